#pragma once
// The umbrella header: everything autodidact offers.

#include "autodidact/config.hpp"              // for model_config, presets
#include "autodidact/core/arena.hpp"          // for arena, storages
#include "autodidact/core/error.hpp"          // for autodidact::error
#include "autodidact/core/rng.hpp"            // for philox_rng
#include "autodidact/core/tensor_view.hpp"    // for tensor_view
#include "autodidact/models/memory_plan.hpp"  // for memory_plan
#include "autodidact/precision.hpp"           // for precision, f32, f64
#include "autodidact/version.hpp"             // for version_major
