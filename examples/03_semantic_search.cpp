// Example 03: semantic search with a real pretrained model.
//
// all-MiniLM-L6-v2 (sentence-transformers) maps a sentence to a 384-number
// vector such that sentences with similar meaning point in similar
// directions. autodidact runs it from its Hugging Face files — config.json,
// tokenizer.json, model.safetensors — with no Python:
//   1. tokenize with the model's WordPiece vocabulary (truncate at 256 tokens),
//   2. run the 6-layer BERT encoder,
//   3. average the hidden states of the real (non-padding) tokens,
//   4. scale the average to unit length.
// Then cosine similarity is a dot product, and searching a collection is
// "embed the query, take the largest dot products".
//
//   ./03_semantic_search [--model DIR] ["your query" ...]
//   ./03_semantic_search --smoke      two queries (CTest runs this)
// DIR defaults to the checkpoint the minilm_checkpoint fixture downloads
// (tools/fetch_minilm.sh).

#include <autodidact/inference/sentence_embedding.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>  // for std::isfinite
#include <cstdio>
#include <string>
#include <vector>

using namespace autodidact;

#ifndef AUTODIDACT_MINILM_DIR
#define AUTODIDACT_MINILM_DIR ""
#endif

// The collection we search: short documents on mixed topics, a few in
// other languages (the model is mostly English, but shares some sub-words).
const std::vector<std::string> documents = {
    "The cat sat on the warm windowsill all afternoon.",
    "Dogs need a walk at least twice a day.",
    "A kitten is chasing a ball of yarn across the floor.",
    "The central bank raised interest rates by a quarter point.",
    "Stock markets fell sharply after the inflation report.",
    "Investors moved their money into government bonds.",
    "Preheat the oven to 200 degrees and bake the bread for 30 minutes.",
    "Mix flour, water, salt and yeast, then let the dough rise overnight.",
    "A good tomato sauce needs garlic, olive oil and patience.",
    "The striker scored twice in the second half to win the match.",
    "The tennis final went to five sets.",
    "Marathon runners train for months before a race.",
    "Compile the program with optimisations enabled and run the tests.",
    "A segmentation fault usually means the program read invalid memory.",
    "Matrix multiplication dominates the cost of a transformer layer.",
    "The telescope captured images of a distant spiral galaxy.",
    "Astronauts spent six months aboard the space station.",
    "Photosynthesis turns sunlight, water and carbon dioxide into sugar.",
    "It will rain heavily tomorrow with strong winds from the west.",
    "The summer was unusually hot and dry this year.",
    "Der Zug nach Berlin hat zwanzig Minuten Verspätung.",
    "Le musée du Louvre est le plus visité au monde.",
    "I forgot my umbrella and got soaked on the way home.",
    "The library extended its opening hours during exam week.",
};

int main(int argc, char** argv) {
  std::string model_dir = AUTODIDACT_MINILM_DIR;
  bool smoke = false;
  std::vector<std::string> queries;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--smoke") smoke = true;
    else if (a == "--model" && i + 1 < argc) model_dir = argv[++i];
    else queries.push_back(a);
  }
  // The built-in queries come with the documents a correct model must rank
  // first (any one of the listed ones); the program exits with status 1
  // when it does not. Queries given on the command line are not checked.
  std::vector<std::vector<std::size_t>> expected_top;
  if (queries.empty()) {
    queries = {"my pet is playing", "how do I make pizza dough?", "the economy is slowing down",
               "why does my C++ program crash?", "what is the weather forecast?", "exploring outer space"};
    expected_top = {{0, 1, 2}, {7}, {3, 4, 5}, {13}, {18}, {15, 16}};
    if (smoke) {
      queries.resize(2);
      expected_top.resize(2);
    }
  }
  if (model_dir.empty()) {
    std::fprintf(stderr, "03_semantic_search: pass --model <dir with config.json, tokenizer.json, model.safetensors>\n");
    return 2;
  }

  // Step 1: load the tokenizer and the model. sentence_encoder checks that
  // config.json describes minilm_l6 (the type's config), maps the BertModel
  // names onto our parameter arena, and sizes its memory once: here for up
  // to 32 sentences of up to 256 tokens.
  const auto t0 = std::chrono::steady_clock::now();
  inference::sentence_encoder<minilm_l6> encoder(model_dir, {.max_batch = 32, .max_length = 256});
  std::printf("loaded %s (%zu tensors; ignored:", model_dir.c_str(), encoder.load_report().loaded);
  for (const auto& name : encoder.load_report().unused) std::printf(" %s", name.c_str());
  std::printf(")\n");

  // Step 2: embed the whole collection once: a [documents, 384] matrix of
  // unit vectors. This is the "index".
  const std::vector<float> index = encoder.embed(documents);
  const auto t1 = std::chrono::steady_clock::now();
  std::printf("embedded %zu documents in %.0f ms (load included)\n\n", documents.size(),
              std::chrono::duration<double, std::milli>(t1 - t0).count());

  // Step 3: for each query, embed it and rank the documents by cosine
  // similarity (a dot product of unit vectors).
  const std::vector<float> q = encoder.embed(queries);
  int wrong = 0;
  for (std::size_t i = 0; i < queries.size(); ++i) {
    std::vector<std::pair<float, std::size_t>> scores;
    for (std::size_t d = 0; d < documents.size(); ++d) {
      scores.emplace_back(inference::dot(encoder.row(q, i), encoder.row(index, d)), d);
    }
    std::partial_sort(scores.begin(), scores.begin() + 3, scores.end(), std::greater<>());
    std::printf("query: \"%s\"\n", queries[i].c_str());
    for (int k = 0; k < 3; ++k) {
      std::printf("  %.3f  %s\n", scores[static_cast<std::size_t>(k)].first,
                  documents[scores[static_cast<std::size_t>(k)].second].c_str());
    }
    if (i < expected_top.size()) {
      const auto& want = expected_top[i];
      const bool finite = std::isfinite(scores[0].first);
      if (!finite || std::find(want.begin(), want.end(), scores[0].second) == want.end()) {
        std::printf("  error: expected the top hit to be \"%s\"\n", documents[want[0]].c_str());
        ++wrong;
      }
    }
    std::printf("\n");
  }
  if (wrong > 0) {
    std::printf("%d of %zu checked queries had a wrong top hit\n", wrong, expected_top.size());
    return 1;
  }
  return 0;
}
