// sdsl-lite's default FM-index (csa_wt<>: Huffman-shaped wavelet tree over the BWT, SA
// samples every 32 positions) on the same text and patterns as ragdb's ngram-bench, for the
// side-by-side in BENCHMARKS.md. Built by Benchmarks/run-ngram.sh when Debian's libsdsl-dev
// is installed; not part of the Swift package.
//
// Usage: sdsl_bench TEXT PATTERNS   (PATTERNS: one per line, as ngram-bench --dump writes)
// Prints one JSON object.
#include <sdsl/suffix_arrays.hpp>
#include <sys/resource.h>
#include <chrono>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

using namespace sdsl;
using clk = std::chrono::steady_clock;

static double seconds(clk::time_point a, clk::time_point b) { return std::chrono::duration<double>(b - a).count(); }

int main(int argc, char **argv) {
    if (argc != 3) { std::cerr << "usage: sdsl_bench TEXT PATTERNS\n"; return 64; }
    std::ifstream tf(argv[1], std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(tf)), std::istreambuf_iterator<char>());
    for (auto &c : text) { if (c == 0) c = ' '; if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a'); }  // as ragdb's lowercase normalisation (ASCII)
    std::vector<std::string> patterns;
    std::ifstream pf(argv[2]);
    for (std::string line; std::getline(pf, line);) if (!line.empty()) patterns.push_back(line);

    csa_wt<> csa;
    auto t0 = clk::now();
    construct_im(csa, text, 1);
    auto t1 = clk::now();
    struct rusage ru; getrusage(RUSAGE_SELF, &ru);
    double buildSeconds = seconds(t0, t1);
    size_t bytes = size_in_bytes(csa);

    // count: every pattern
    size_t patternBytes = 0, total = 0;
    t0 = clk::now();
    for (auto &p : patterns) { total += count(csa, p.begin(), p.end()); patternBytes += p.size(); }
    t1 = clk::now();
    double countSeconds = seconds(t0, t1);

    // locate: the first 500 patterns, at most 100 occurrences each (as ngram-bench)
    size_t located = 0, sink = 0;
    t0 = clk::now();
    for (size_t i = 0; i < patterns.size() && i < 500; i++) {
        auto &p = patterns[i];
        size_t sp = 0, ep = 0;
        size_t occ = backward_search(csa, 0, csa.size() - 1, p.begin(), p.end(), sp, ep);
        if (occ == 0) continue;
        size_t end = std::min(ep, sp + 99);
        for (size_t r = sp; r <= end; r++) { sink += csa[r]; located++; }
    }
    t1 = clk::now();
    double locateSeconds = seconds(t0, t1);

    std::cout.precision(6);
    std::cout << "{\"system\": \"sdsl-lite csa_wt<>\", \"text_bytes\": " << text.size()
              << ", \"build_seconds\": " << buildSeconds << ", \"build_mb_per_s\": " << text.size() / buildSeconds / 1e6
              << ", \"peak_rss_bytes_per_input_byte\": " << (ru.ru_maxrss * 1024.0) / text.size()
              << ", \"index_bytes\": " << bytes << ", \"index_over_text\": " << double(bytes) / text.size()
              << ", \"patterns\": " << patterns.size() << ", \"occurrences\": " << total
              << ", \"count_us_per_pattern_byte\": " << countSeconds * 1e6 / patternBytes
              << ", \"located\": " << located << ", \"locate_us_per_occurrence\": " << (located ? locateSeconds * 1e6 / located : 0)
              << ", \"sink\": " << sink % 7 << "}\n";
    return 0;
}
