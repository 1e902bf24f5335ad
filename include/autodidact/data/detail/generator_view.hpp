#pragma once
// A single-pass range-v3 view over a "source": an object that produces one
// value at a time and keeps whatever state that takes (an open file, a
// partly filled window, a shuffle buffer). Every stage of the data pipeline
// that is not a pure function of one element is such a source; pure ones
// are plain range-v3 views (views::transform, views::stride).
//
//   struct counter {                      // the Source concept
//     int i = -1;
//     void advance() { ++i; }             // load the next value (may throw)
//     bool done() const { return i == 3; }
//     const int& value() const { return i; }
//   };
//   for (int v : generator_view<counter>(std::make_shared<counter>())) ...   // 0 1 2
//
// Copies of the view share the source (an input range, like
// ranges::istream_view): begin() may be called once.

#include <memory>       // for std::shared_ptr
#include <type_traits>  // for std::true_type
#include <utility>      // for std::move

#include <range/v3/range/access.hpp>  // for ranges::begin, ranges::end
#include <range/v3/view/facade.hpp>   // for ranges::view_facade, ranges::default_sentinel_t

namespace autodidact::data::detail {

template <class Source>
class generator_view : public ranges::view_facade<generator_view<Source>, ranges::unknown> {
 public:
  generator_view() = default;
  explicit generator_view(std::shared_ptr<Source> source)
      : state_(std::make_shared<state>(std::move(source))) {}

  // The source itself (its counters and diagnostics).
  Source& source() const noexcept { return *state_->source; }

 private:
  friend ranges::range_access;

  struct state {
    explicit state(std::shared_ptr<Source> s) : source(std::move(s)) {}
    std::shared_ptr<Source> source;
    bool primed = false;  // the first value is loaded by the first begin(), not by construction
  };

  struct cursor {
    using single_pass = std::true_type;  // an input range: values are produced once
    Source* source = nullptr;
    decltype(auto) read() const { return source->value(); }
    void next() { source->advance(); }
    bool equal(ranges::default_sentinel_t) const { return source->done(); }
  };

  cursor begin_cursor() {
    if (!state_->primed) {
      state_->primed = true;
      state_->source->advance();
    }
    return cursor{state_->source.get()};
  }

  std::shared_ptr<state> state_;
};

// A generator_view over a new Source made from the arguments.
template <class Source, class... Args>
generator_view<Source> make_generator_view(Args&&... args) {
  return generator_view<Source>(std::make_shared<Source>(static_cast<Args&&>(args)...));
}

}  // namespace autodidact::data::detail
