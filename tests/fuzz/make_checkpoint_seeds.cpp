// Writes the valid seeds of the checkpoint harness (the micro models of
// checkpoint.cpp saved with each naming) into the folder given; broken
// variants are made by make_corpus.py. Built by hand, not by CMake:
//   clang++ -std=c++20 -I include -DAUTODIDACT_TEST_DATA_DIR='"tests"' \
//     tests/fuzz/make_checkpoint_seeds.cpp -o /tmp/seeds && /tmp/seeds tests/fuzz/corpus/checkpoint
#define AUTODIDACT_FUZZ_REPLAY_ALL 1
#include <cstdio>
#include <string>

#include "checkpoint.cpp"

int main(int argc, char** argv) {
  namespace io = autodidact::io;
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <folder>\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  fuzz_checkpoint::micro_model<fuzz_checkpoint::micro_encoder> enc;
  fuzz_checkpoint::micro_model<fuzz_checkpoint::micro_decoder> dec;
  for (std::size_t i = 0; i < enc.params.size(); ++i) enc.params[i] = 0.25f * static_cast<float>(i % 7) - 0.5f;
  for (std::size_t i = 0; i < dec.params.size(); ++i) dec.params[i] = 0.125f * static_cast<float>(i % 5);
  io::save_checkpoint(dir + "/valid_encoder_ours", enc);
  io::save_checkpoint(dir + "/valid_encoder_bert_pretraining", enc, {.hf_names = io::hf_naming::bert_pretraining});
  io::save_checkpoint(dir + "/valid_encoder_bert_model", enc, {.hf_names = io::hf_naming::bert_model});
  io::save_checkpoint(dir + "/valid_decoder_ours", dec);
  io::save_checkpoint(dir + "/valid_decoder_gpt2_lm", dec, {.hf_names = io::hf_naming::gpt2_lm});
  io::save_checkpoint(dir + "/valid_decoder_gpt2_model", dec, {.hf_names = io::hf_naming::gpt2_model});
  return 0;
}
