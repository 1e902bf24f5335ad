// Example 05: autodidact in a program built without exceptions.
//
// Embedded and game code is often compiled with -fno-exceptions. autodidact
// still checks every file, size and value it is given; with exceptions off,
// a failed check calls the error handler installed with
// autodidact::set_error_handler instead of throwing. The handler receives
// the error's kind ("io_error", "format_error", ...) and the same message
// an exception would carry, and must not return (if it does, the library
// aborts). This program is compiled with -fno-exceptions (see
// examples/CMakeLists.txt) and:
//   1. installs a handler,
//   2. loads all-MiniLM-L6-v2 (config.json, tokenizer.json,
//      model.safetensors) with the output check on (check_finite: every
//      layer's output is checked for NaN and infinity),
//   3. embeds two sentences and prints their cosine similarity,
//   4. then asks for a model folder that does not exist, on purpose: the
//      handler reports the io_error and ends the program.
//
//   ./06_no_exceptions [--model DIR]
//   ./06_no_exceptions --smoke      the same (CTest runs this)
// DIR defaults to the checkpoint the minilm_checkpoint fixture downloads.

#include <autodidact/inference/sentence_embedding.hpp>

#include <cstdio>
#include <cstdlib>  // for std::_Exit
#include <cstring>  // for std::strcmp
#include <string>
#include <vector>

#ifndef AUTODIDACT_MINILM_DIR
#define AUTODIDACT_MINILM_DIR ""
#endif

static_assert(!AUTODIDACT_EXCEPTIONS, "06_no_exceptions must be compiled with -fno-exceptions");

using namespace autodidact;

// Step 4 sets this: the error that follows is the one we asked for.
static bool error_expected = false;

// The handler: print the kind and message, then leave the program (it must
// not return). A real program might log, flush, and restart a task here.
static void on_error(const char* kind, const char* message) {
  std::printf("error handler: %s: %s\n", kind, message);
  std::fflush(stdout);
  std::_Exit(error_expected ? 0 : 1);
}

int main(int argc, char** argv) {
  std::string dir = AUTODIDACT_MINILM_DIR;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--model") == 0 && i + 1 < argc) dir = argv[++i];
    // --smoke: the program is already small; nothing to shorten.
  }
  if (dir.empty()) {
    std::printf("06_no_exceptions: no model folder (pass --model DIR)\n");
    return 1;
  }

  // 1. Errors go to on_error from here on.
  set_error_handler(on_error);

  // 2. Load the model, checking every layer's output on every forward.
  inference::sentence_encoder<> encoder(dir, {.max_batch = 2, .max_length = 64, .check_finite = true});
  std::printf("loaded %s (%d-dimensional embeddings, output check on)\n", dir.c_str(), encoder.dim);

  // 3. Embed two sentences that mean nearly the same.
  const std::vector<std::string> sentences = {"A man is eating food.", "A man is eating a piece of bread."};
  const std::vector<float> e = encoder.embed(sentences);
  const float cosine = inference::dot(encoder.row(e, 0), encoder.row(e, 1));
  std::printf("cosine(\"%s\", \"%s\") = %.4f\n", sentences[0].c_str(), sentences[1].c_str(), cosine);
  if (!(cosine > 0.5f && cosine <= 1.0001f)) {
    std::printf("06_no_exceptions: the cosine should be in (0.5, 1]\n");
    return 1;
  }

  // 4. A folder with no model: the loader's io_error reaches the handler.
  error_expected = true;
  inference::sentence_encoder<> missing(dir + "/no-such-model");
  std::printf("06_no_exceptions: the error handler was not called\n");
  return 1;
}
