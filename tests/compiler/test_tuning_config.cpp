// The per-arch tile tables: shipped files, loader errors (with JSON paths), bucket
// selection and the --tile override.
#include <sys/stat.h>

#include <string>

#include "catch.h"
#include "compiler/spec/hopper_geometry.h"
#include "compiler/spec/kernel_geometry.h"
#include "compiler/spec/tuning_config.h"
#include "compiler/support/embedded_files.h"
#include "temp_dir.h"

using namespace attnjit;

namespace {

// The loader's error for `json`, as printed with source name "t.json".
std::string parse_error(const std::string& json) {
  auto table = TuningTable::parse(json, "t.json");
  REQUIRE_FALSE(table.ok());
  return table.error();
}

// A valid table with `prefill` replaced by the given kind body.
std::string with_prefill(const std::string& body) {
  return R"({"arch": "sm_90", "prefill": )" + body + "}";
}

const char* kGoodConfig = R"({"BLOCK_M": 128, "BLOCK_N": 64, "num_warps": 8, "num_stages": 2})";

}  // namespace

TEST_CASE("shipped configs parse, validate and pick per head_dim", "[config]") {
  for (const char* arch : {"sm_80", "sm_86", "sm_89", "sm_90"}) {
    INFO(arch);
    auto table = TuningTable::embedded(arch);
    REQUIRE(table.ok());
    CHECK(table->arch() == arch);
    // Every head_dim the kernel supports gets a tile that fits shared memory.
    for (int head_dim : {32, 64, 80, 96, 128, 160, 192, 256}) {
      for (bool causal : {false, true}) {
        auto tile = table->pick("prefill", head_dim, causal);
        REQUIRE(tile.has_value());
        CHECK(validate_tile(*tile, config_kv_elements(head_dim, false), shared_memory_limit(arch)) == "");
      }
    }
  }
  // Bucket selection on the Hopper table: d <= 64, the default, and d > 128.
  auto sm90 = TuningTable::embedded("sm_90");
  REQUIRE(sm90.ok());
  CHECK(sm90->pick("prefill", 64, false) == TileConfig{128, 64, 4, 2});
  CHECK(sm90->pick("prefill", 128, true) == TileConfig{256, 64, 8, 2});
  CHECK(sm90->pick("prefill", 256, false) == TileConfig{128, 64, 8, 2});
}

TEST_CASE("sm_90a's config holds the wgmma tiles; its mma.sync kernels take sm_90's", "[config][hopper]") {
  auto wgmma = TuningTable::embedded("sm_90a", Mainloop::wgmma);
  REQUIRE(wgmma.ok());
  CHECK(wgmma->arch() == "sm_90a");
  // Every entry with the measured schedule: the softmax overlapped, ping-pong; the
  // persistent grid at head dim 64, and at 128 under a causal mask.
  auto scheduled = [](TileConfig t, bool persistent = false) {
    t.softmax_overlap = t.pingpong = true;
    t.persistent = persistent;
    return t;
  };
  // d64: three consumer warpgroups, except for score transforms and windows (the
  // arguments after causal: sliding window, score transform).
  CHECK(wgmma->pick("prefill", 64, true) == scheduled(TileConfig{192, 128, 16, 3}, true));
  CHECK(wgmma->pick("prefill", 64, false) == scheduled(TileConfig{192, 128, 16, 3}, true));
  CHECK(wgmma->pick("prefill", 64, true, true) == scheduled(TileConfig{128, 128, 12, 3}, true));
  CHECK(wgmma->pick("prefill", 64, true, false, true) == scheduled(TileConfig{128, 128, 12, 3}, true));
  CHECK(wgmma->pick("prefill", 128, false) == scheduled(TileConfig{128, 128, 12, 2}));
  CHECK(wgmma->pick("prefill", 128, true) == scheduled(TileConfig{128, 128, 12, 2}, true));
  CHECK(wgmma->pick("prefill", 256, true) == scheduled(TileConfig{128, 80, 12, 2}));
  for (int head_dim : {64, 128, 256})
    CHECK(hopper_tile_problem(*wgmma->pick("prefill", head_dim, false), head_dim, shared_memory_limit("sm_90a")) ==
          "");
  CHECK(wgmma->kind("paged") == nullptr);
  CHECK(TuningTable::embedded("sm_90a")->arch() == "sm_90");
  CHECK(TuningTable::embedded("sm_90a", Mainloop::mma_sync)->arch() == "sm_90");
  CHECK(tuning_arch("sm_90a", Mainloop::wgmma) == "sm_90a");
  CHECK(tuning_arch("sm_90a", Mainloop::mma_sync) == "sm_90");
  CHECK(tuning_arch("sm_90", Mainloop::mma_sync) == "sm_90");
  CHECK(own_mainloop("sm_90a") == Mainloop::wgmma);
  CHECK(own_mainloop("sm_90") == Mainloop::mma_sync);
  // An sm_90 table has no wgmma tiles to stand in with.
  CHECK_FALSE(TuningTable::embedded("sm_90", Mainloop::wgmma).ok());

  // The file is checked by the wgmma main loop's rules, and holds prefill tiles only.
  auto mma_tile = TuningTable::parse(
      R"({"arch": "sm_90a", "prefill": {"default": {"BLOCK_M": 128, "BLOCK_N": 64, "num_warps": 8, "num_stages": 2}}})",
      "a.json");
  REQUIRE_FALSE(mma_tile.ok());
  CHECK(mma_tile.error() ==
        "a.json: prefill.default: the wgmma main loop takes BLOCK_M 128 with 12 warps or 192 with 16, got BLOCK_M 128 "
              "with 8");
  auto wide = TuningTable::parse(R"({"arch": "sm_90a", "prefill": {"default": )"
                                 R"({"BLOCK_M": 128, "BLOCK_N": 128, "num_warps": 12, "num_stages": 2},)"
                                 R"( "buckets": [{"head_dim_max": 256, "config": )"
                                 R"({"BLOCK_M": 128, "BLOCK_N": 128, "num_warps": 12, "num_stages": 2}}]}})",
                                 "w.json");
  REQUIRE_FALSE(wide.ok());
  CHECK(wide.error().find("w.json: prefill.buckets[0].config: BLOCK_N 128 at head_dim 256 needs 224") == 0);
  auto paged = TuningTable::parse(
      R"({"arch": "sm_90a", "paged": {"default": {"BLOCK_M": 64, "BLOCK_N": 64, "num_warps": 4, "num_stages": 2}}})",
      "p.json");
  REQUIRE_FALSE(paged.ok());
  CHECK(paged.error() ==
        "p.json: paged: sm_90a's file tiles only the main loop its plain twin lacks (wgmma); its paged kernels "
        "take the tiles of sm_90's file");
}

TEST_CASE("shared memory limits follow the arch", "[config]") {
  CHECK(shared_memory_limit("sm_90") == 232448);
  CHECK(shared_memory_limit("sm_86") == 101376);
  const TileConfig big{128, 64, 8, 2};
  CHECK(validate_tile(big, config_kv_elements(256, false), shared_memory_limit("sm_90")) == "");
  CHECK(validate_tile(big, config_kv_elements(256, false), shared_memory_limit("sm_86"))
            .find("101376") != std::string::npos);
}

TEST_CASE("config files load from disk", "[config]") {
  auto table = TuningTable::load_file(std::string(ATTNJIT_SOURCE_DIR) + "/configs/sm_80.json");
  REQUIRE(table.ok());
  CHECK(table->arch() == "sm_80");

  auto missing = TuningTable::load_file("/nonexistent/sm_99.json");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().rfind("/nonexistent/sm_99.json: cannot read file", 0) == 0);
}

TEST_CASE("embedded() falls back to the nearest lower arch", "[config]") {
  CHECK(TuningTable::embedded("sm_90a")->arch() == "sm_90");
  CHECK(TuningTable::embedded("sm_87")->arch() == "sm_86");
  CHECK(TuningTable::embedded("sm_100")->arch() == "sm_90");

  auto old = TuningTable::embedded("sm_75");
  REQUIRE_FALSE(old.ok());
  CHECK(old.error() ==
        "no tuning config for sm_75 or an older arch; embedded configs: sm_80, sm_86, sm_89, "
        "sm_90, sm_90a");
  // An AMD arch falls back only to AMD tables: gfx950 (no target yet) to gfx942's; an
  // older one than any table is an error naming the AMD tables only.
  CHECK(TuningTable::embedded("gfx90a")->arch() == "gfx90a");
  CHECK(TuningTable::embedded("gfx950")->arch() == "gfx942");
  auto amd = TuningTable::embedded("gfx908");
  REQUIRE_FALSE(amd.ok());
  CHECK(amd.error() == "no tuning config for gfx908 or an older arch; embedded configs: gfx90a, gfx942");
  auto bogus = TuningTable::embedded("sm90");
  REQUIRE_FALSE(bogus.ok());
  CHECK(bogus.error().find("\"sm90\"") != std::string::npos);
}

TEST_CASE("pick() takes the first matching bucket, else the default", "[config]") {
  auto table = TuningTable::parse(R"({
    "arch": "sm_80",
    "prefill": {
      "default": {"BLOCK_M": 128, "BLOCK_N": 64, "num_warps": 8, "num_stages": 2},
      "buckets": [
        {"head_dim_min": 100, "head_dim_max": 128, "score_transform": true,
         "config": {"BLOCK_M": 128, "BLOCK_N": 32, "num_warps": 4, "num_stages": 2}},
        {"head_dim_min": 100, "head_dim_max": 128, "causal": true,
         "config": {"BLOCK_M": 64, "BLOCK_N": 64, "num_warps": 4, "num_stages": 2}},
        {"head_dim_min": 65, "head_dim_max": 128,
         "config": {"BLOCK_M": 32, "BLOCK_N": 32, "num_warps": 2, "num_stages": 3}},
        {"head_dim_min": 65,
         "config": {"BLOCK_M": 16, "BLOCK_N": 16, "num_warps": 1, "num_stages": 4}}
      ]
    }
  })", "t.json");
  REQUIRE(table.ok());
  CHECK(table->pick("prefill", 128, true) == TileConfig{64, 64, 4, 2});   // causal bucket
  CHECK(table->pick("prefill", 128, false) == TileConfig{32, 32, 2, 3});  // skips causal-only
  CHECK(table->pick("prefill", 96, true) == TileConfig{32, 32, 2, 3});    // below the first's min
  CHECK(table->pick("prefill", 256, false) == TileConfig{16, 16, 1, 4});  // open upper bound
  CHECK(table->pick("prefill", 64, true) == TileConfig{128, 64, 8, 2});   // default
  CHECK(table->pick("prefill", 128, true, false, true) == TileConfig{128, 32, 4, 2});  // transform
  CHECK(table->pick("prefill", 64, true, false, true) == TileConfig{128, 64, 8, 2});  // out of range
  CHECK_FALSE(table->pick("paged", 128, true).has_value());
}

TEST_CASE("config errors name the file and the JSON path", "[config]") {
  SECTION("syntax error with its position") {
    const std::string e = parse_error("{\"arch\": \"sm_90\",\n \"prefill\": {,}}");
    CHECK(e.rfind("t.json: invalid JSON: parse error at line 2, column ", 0) == 0);
    CHECK(e.find("[json.exception") == std::string::npos);
  }
  SECTION("top level must be an object") {
    CHECK(parse_error("[1, 2]") == "t.json: top level: expected an object, got array [1,2]");
  }
  SECTION("missing arch") {
    CHECK(parse_error(R"({"prefill": {"default": )" + std::string(kGoodConfig) + "}}") ==
          "t.json: top level: missing required key \"arch\"");
  }
  SECTION("bad arch") {
    CHECK(parse_error(R"({"arch": "hopper", "prefill": {}})") ==
          "t.json: arch: expected an arch name like \"sm_90\" or \"sm_90a\", got string "
          "\"hopper\"");
  }
  SECTION("no kind") {
    CHECK(parse_error(R"({"arch": "sm_90"})") ==
          "t.json: top level: expected at least one kernel kind (\"prefill\", \"paged\", "
        "\"paged_decode\"), got none");
  }
  SECTION("unknown kind with a suggestion") {
    CHECK(parse_error(R"({"arch": "sm_90", "prefil": {}})") ==
          "t.json: top level: unknown key \"prefil\" (did you mean \"prefill\"?)");
  }
  SECTION("missing default") {
    CHECK(parse_error(with_prefill("{}")) == "t.json: prefill: missing required key \"default\"");
  }
  SECTION("string where an integer belongs, deep in a bucket") {
    const std::string json = with_prefill(R"({"default": )" + std::string(kGoodConfig) + R"(,
      "buckets": [{"config": )" + kGoodConfig + R"(},
                  {"config": {"BLOCK_M": 128, "BLOCK_N": "64", "num_warps": 8, "num_stages": 2}}]})");
    CHECK(parse_error(json) ==
          "t.json: prefill.buckets[1].config.BLOCK_N: expected an integer, got string \"64\"");
  }
  SECTION("unknown config key with a suggestion") {
    CHECK(parse_error(with_prefill(
              R"({"default": {"BLOCK_M": 128, "BLOCKN": 64, "num_warps": 8, "num_stages": 2}})")) ==
          "t.json: prefill.default: unknown key \"BLOCKN\" (did you mean \"BLOCK_N\"?)");
  }
  SECTION("unknown key without a near match lists the valid ones") {
    CHECK(parse_error(with_prefill(R"({"default": )" + std::string(kGoodConfig) +
                                   R"(, "zzzzzzzzz": 1})")) ==
          "t.json: prefill: unknown key \"zzzzzzzzz\" (expected one of \"default\", \"buckets\")");
  }
  SECTION("missing config key") {
    CHECK(parse_error(with_prefill(
              R"({"default": {"BLOCK_M": 128, "BLOCK_N": 64, "num_warps": 8}})")) ==
          "t.json: prefill.default: missing required key \"num_stages\"");
  }
  SECTION("non-positive and fractional numbers") {
    CHECK(parse_error(with_prefill(
              R"({"default": {"BLOCK_M": 128, "BLOCK_N": 64, "num_warps": 8, "num_stages": 0}})")) ==
          "t.json: prefill.default.num_stages: expected a positive integer, got 0");
    CHECK(parse_error(with_prefill(
              R"({"default": {"BLOCK_M": 128.0, "BLOCK_N": 64, "num_warps": 8, "num_stages": 2}})")) ==
          "t.json: prefill.default.BLOCK_M: expected an integer, got number 128.0");
  }
  SECTION("structural rule broken") {
    CHECK(parse_error(with_prefill(
              R"({"default": {"BLOCK_M": 64, "BLOCK_N": 64, "num_warps": 8, "num_stages": 2}})")) ==
          "t.json: prefill.default: BLOCK_M must be 16 * num_warps = 128 or 32 * num_warps = 256 "
          "(each warp owns 16 or 32 query rows), or 16 (the warps split the KV tiles), got 64");
  }
  SECTION("bucket that cannot fit shared memory at its largest head_dim") {
    const std::string e = parse_error(with_prefill(R"({"default": )" + std::string(kGoodConfig) +
        R"(, "buckets": [{"head_dim_max": 256,
            "config": {"BLOCK_M": 128, "BLOCK_N": 128, "num_warps": 8, "num_stages": 4}}]})"));
    CHECK(e.rfind("t.json: prefill.buckets[0].config: shared memory of 608256 bytes", 0) == 0);
    CHECK(e.find("232448-byte limit") != std::string::npos);
  }
  SECTION("bucket fields") {
    auto bucket = [](const std::string& b) {
      return parse_error(with_prefill(R"({"default": )" + std::string(kGoodConfig) +
                                      R"(, "buckets": [)" + b + "]}"));
    };
    CHECK(bucket(R"({"causal": 1, "config": )" + std::string(kGoodConfig) + "}") ==
          "t.json: prefill.buckets[0].causal: expected true or false, got number 1");
    CHECK(bucket(R"({"head_dim_min": 128, "head_dim_max": 64, "config": )" +
                 std::string(kGoodConfig) + "}") ==
          "t.json: prefill.buckets[0].head_dim_max: expected a value >= head_dim_min (128), got 64");
    CHECK(bucket(R"({"head_dim_min": 64})") ==
          "t.json: prefill.buckets[0]: missing required key \"config\"");
    CHECK(bucket(R"({"head_dim": 64, "config": )" + std::string(kGoodConfig) + "}") ==
          "t.json: prefill.buckets[0]: unknown key \"head_dim\" (did you mean \"head_dim_min\"?)");
  }
  SECTION("buckets must be an array") {
    CHECK(parse_error(with_prefill(R"({"default": )" + std::string(kGoodConfig) +
                                   R"(, "buckets": {}})")) ==
          "t.json: prefill.buckets: expected an array, got object {}");
  }
}

TEST_CASE("validate_tile states each structural rule", "[config]") {
  // 16-bit K/V within sm_90's shared memory; head_dim 0 = unknown: the rules alone.
  auto check = [](const TileConfig& c, int head_dim) {
    return validate_tile(c, config_kv_elements(head_dim, false), shared_memory_limit("sm_90"));
  };
  CHECK(check({128, 64, 8, 2}, 128) == "");
  CHECK(check({128, 64, 8, 2}, 0) == "");
  CHECK(check({48, 64, 3, 2}, 0) == "num_warps must be 1, 2, 4 or 8, got 3");
  CHECK(check({64, 64, 8, 2}, 0) ==
        "BLOCK_M must be 16 * num_warps = 128 or 32 * num_warps = 256 (each warp owns 16 or 32 "
        "query rows), or 16 (the warps split the KV tiles), got 64");
  // BLOCK_M 16 with several warps: each warp gets its own K/V ring.
  CHECK(check({16, 16, 4, 2}, 128) == "");
  CHECK(check({16, 64, 8, 3}, 256).rfind("shared memory of", 0) == 0);
  CHECK(check({256, 64, 8, 2}, 128) == "");
  CHECK(check({256, 32, 8, 2}, 256) ==
        "BLOCK_M 32 * num_warps (256) needs head_dim <= 128, got head_dim 256");
  CHECK(check({128, 48, 8, 2}, 0) == "BLOCK_N must be 16, 32, 64 or 128, got 48");
  CHECK(check({128, 64, 8, 5}, 0) == "num_stages must be 2, 3 or 4, got 5");
  CHECK(check({128, 64, 8, 1}, 0) == "num_stages must be 2, 3 or 4, got 1");
  // 2 * (128 + 2*3*64) * (256 + 8) = 270336 bytes > 227 KiB; fine when head_dim is unknown.
  const std::string smem = check({128, 64, 8, 3}, 256);
  CHECK(smem.rfind("shared memory of 270336 bytes", 0) == 0);
  CHECK(smem.find("232448-byte limit") != std::string::npos);
  CHECK(check({128, 64, 8, 3}, 0) == "");
}

TEST_CASE("--tile override parsing", "[config]") {
  auto good = parse_tile_override("128,64,8,2");
  REQUIRE(good.ok());
  CHECK(*good == TileConfig{128, 64, 8, 2});
  CHECK(*parse_tile_override("16,16,1,2") == TileConfig{16, 16, 1, 2});

  auto error_of = [](const std::string& text) {
    auto r = parse_tile_override(text);
    REQUIRE_FALSE(r.ok());
    return r.error();
  };
  const std::string usage = "expected BLOCK_M,BLOCK_N,WARPS,STAGES (e.g. 128,64,8,2), got ";
  CHECK(error_of("128,64") == usage + "\"128,64\"");
  CHECK(error_of("128,64,8,2,1") == usage + "\"128,64,8,2,1\"");
  CHECK(error_of("128,64,8,2,") == usage + "\"128,64,8,2,\"");
  CHECK(error_of("") == usage + "\"\"");
  CHECK(error_of("128,x,8,2") == "BLOCK_N: expected a positive integer, got \"x\" (in \"128,x,8,2\")");
  CHECK(error_of("128,64,0,2") == "WARPS: expected a positive integer, got \"0\" (in \"128,64,0,2\")");
  CHECK(error_of("96,64,4,2") ==
        "BLOCK_M must be 16 * num_warps = 64 or 32 * num_warps = 128 (each warp owns 16 or 32 "
        "query rows), or 16 (the warps split the KV tiles), got 96");

  // With the target's main loop, its rules: one K/V stage is the MFMA loop's only.
  CHECK(*parse_tile_override("128,32,4,1", Mainloop::mfma) == TileConfig{128, 32, 4, 1});
  auto mma_sync = parse_tile_override("128,32,4,1", Mainloop::mma_sync);
  REQUIRE_FALSE(mma_sync.ok());
  CHECK(mma_sync.error() == "num_stages must be 2, 3 or 4, got 1");
  auto mfma = parse_tile_override("64,64,4,2", Mainloop::mfma);
  REQUIRE_FALSE(mfma.ok());
  CHECK(mfma.error() ==
        "BLOCK_M must be 32 * num_warps = 128 on the MFMA main loop (each wave owns 32 query "
        "rows), got 64");
  // Before the target is known, a tile some main loop takes passes.
  CHECK(parse_tile_override("128,32,4,1").ok());
  CHECK(parse_tile_override("64,64,4,2").ok());
}

TEST_CASE("paged configs may fix the split-KV segment count", "[config]") {
  const std::string json = R"({"arch": "sm_90", "paged_decode": {"default":
      {"BLOCK_M": 16, "BLOCK_N": 16, "num_warps": 4, "num_stages": 2, "num_splits": 3}}})";
  auto table = TuningTable::parse(json, "t.json");
  REQUIRE(table.ok());
  CHECK(table->pick("paged_decode", 128, true)->num_splits == 3);
  // Absent means the heuristic decides.
  CHECK(TuningTable::embedded("sm_90")->pick("paged_decode", 128, true)->num_splits == 0);
  CHECK(parse_error(with_prefill(
            R"({"default": {"BLOCK_M": 128, "BLOCK_N": 64, "num_warps": 8, "num_stages": 2, "num_splits": 2}})")) ==
        "t.json: prefill.default.num_splits: num_splits applies to the paged kinds only");
  CHECK(parse_error(R"({"arch": "sm_90", "paged": {"default":
      {"BLOCK_M": 64, "BLOCK_N": 64, "num_warps": 4, "num_stages": 2, "num_splits": 0}}})") ==
        "t.json: paged.default.num_splits: expected a positive integer, got 0");
}

TEST_CASE("buckets may select 8-bit K/V; configs may cap registers by resident blocks",
          "[config]") {
  const std::string json = R"({"arch": "sm_90", "paged_decode": {
      "default": {"BLOCK_M": 16, "BLOCK_N": 16, "num_warps": 4, "num_stages": 2},
      "buckets": [{"kv_8bit": true, "config": {"BLOCK_M": 16, "BLOCK_N": 16, "num_warps": 4,
                                               "num_stages": 2, "min_blocks_per_sm": 3}}]}})";
  auto table = TuningTable::parse(json, "t.json");
  REQUIRE(table.ok());
  CHECK(table->pick("paged_decode", 128, true, false, false, true)->min_blocks_per_sm == 3);
  CHECK(table->pick("paged_decode", 128, true, false, false, false)->min_blocks_per_sm == 0);
  // The shipped sm_90 table: fp8/int8 decode at head_dim <= 128 asks for three blocks.
  auto sm90 = TuningTable::embedded("sm_90");
  REQUIRE(sm90.ok());
  CHECK(sm90->pick("paged_decode", 128, true, false, false, true)->min_blocks_per_sm == 3);
  CHECK(sm90->pick("paged_decode", 256, true, false, false, true)->min_blocks_per_sm == 0);
  CHECK(sm90->pick("paged_decode", 128, true)->min_blocks_per_sm == 0);
  CHECK(parse_error(R"({"arch": "sm_90", "paged": {"default": {"BLOCK_M": 64, "BLOCK_N": 64,
      "num_warps": 4, "num_stages": 2, "min_blocks_per_sm": 33}}})") ==
        "t.json: paged.default.min_blocks_per_sm: expected at most 32 (resident blocks per SM), "
        "got 33");
  CHECK(parse_error(R"({"arch": "sm_90", "paged": {"default": {"BLOCK_M": 64, "BLOCK_N": 64,
      "num_warps": 4, "num_stages": 2}, "buckets": [{"kv_8bit": 1, "config": {"BLOCK_M": 64,
      "BLOCK_N": 64, "num_warps": 4, "num_stages": 2}}]}})") ==
        "t.json: paged.buckets[0].kv_8bit: expected true or false, got number 1");
}

TEST_CASE("absurdly nested JSON is refused before it is parsed", "[config]") {
  const int depth = 100000;
  const std::string arrays = std::string(depth, '[') + std::string(depth, ']');
  CHECK(parse_error(arrays) ==
        "t.json: invalid JSON: arrays and objects nested deeper than 32 levels at line 1, column 33");
  // Deep inside a real key, and in objects: the same; brackets in strings do not count.
  const std::string objects = with_prefill(std::string(depth, '{') + std::string(depth, '}'));
  CHECK(parse_error(objects).find("nested deeper than 32 levels at line 1, column ") != std::string::npos);
  const std::string in_string = R"({"arch": "sm_90", "x": ")" + std::string(depth, '[') + R"("})";
  CHECK(parse_error(in_string).find("unknown key \"x\"") != std::string::npos);
  // Nesting the loader accepts still reads, and an error inside it is short.
  const std::string deep_value = with_prefill(R"({"default": )" + std::string(30, '[') +
                                              std::string(30, ']') + "}");
  CHECK(parse_error(deep_value) ==
        "t.json: prefill.default: expected an object, got array "
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]");
}

TEST_CASE("config errors show at most a short excerpt of a value", "[config]") {
  // A huge array where an object belongs: the message shows its start only.
  std::string big = "[";
  for (int i = 0; i < 100000; ++i) big += (i ? ",\"abcdefghij\"" : "\"abcdefghij\"");
  big += "]";
  const std::string error = parse_error(with_prefill(big));
  CHECK(error.find("t.json: prefill: expected an object, got array [\"abcdefghij\",") == 0);
  CHECK(error.ends_with("..."));
  CHECK(error.size() < 140);
  // A long string value, and a long key.
  const std::string long_value =
      parse_error(R"({"arch": ")" + std::string(100000, 'z') + R"("})");
  CHECK(long_value.size() < 200);
  const std::string long_key =
      parse_error(R"({"arch": "sm_90", ")" + std::string(100000, 'k') + R"(": 1})");
  CHECK(long_key.find("unknown key \"kkkk") != std::string::npos);
  CHECK(long_key.size() < 300);
  // A syntax error after a long string quotes a bounded part of it.
  CHECK(parse_error(R"({"arch": ")" + std::string(100000, 'z')).size() < 400);
}

TEST_CASE("control characters in config keys and values are escaped", "[config]") {
  const std::string key = parse_error(R"({"arch": "sm_90", "x\u001b]0;title\u0007": 1})");
  CHECK(key.find("unknown key \"x\\x1b]0;title\\x07\"") != std::string::npos);
  const std::string value = parse_error(R"({"arch": "\u001b[2J"})");
  CHECK(value.find("got string \"\\u001b[2J\"") != std::string::npos);
  for (char c : key + value) CHECK((static_cast<unsigned char>(c) >= 0x20 && c != 0x7f));
  // A path with an escape in it, as the file's name in every message.
  auto table = TuningTable::parse("[", "conf\x1b[2J.json");
  REQUIRE_FALSE(table.ok());
  CHECK(table.error().find("conf\\x1b[2J.json: invalid JSON: ") == 0);
}

TEST_CASE("config files: only regular files of bounded size are read", "[config]") {
  attnjit::testing::TempDir dir;
  const std::string fifo = (dir.path() / "sm_90.json").string();
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  auto error_of = [](const std::string& path) {
    auto table = TuningTable::load_file(path);
    REQUIRE_FALSE(table.ok());
    return table.error();
  };
  CHECK(error_of(fifo) == fifo + ": cannot read file: it is a named pipe (FIFO), not a regular file");
  CHECK(error_of(dir.path().string()) == dir.path().string() + ": cannot read file: it is a directory");
  CHECK(error_of("/dev/zero") == "/dev/zero: cannot read file: it is a character device, not a regular file");
  CHECK(error_of("/proc/self/mem") == "/proc/self/mem: cannot read file: a read failed: Input/output error");
  // Over the size limit, however valid: refused before it is parsed.
  const std::string big = dir.write("big.json", R"({"arch": "sm_90", "prefill": {"default": )" +
                                                    std::string(kGoodConfig) + "}}" +
                                                    std::string(1024 * 1024, ' '));
  CHECK(error_of(big) == big + ": cannot read file: it is larger than the 1 MiB limit");
  // The same file without the padding loads.
  const std::string good = dir.write("good.json", R"({"arch": "sm_90", "prefill": {"default": )" +
                                                      std::string(kGoodConfig) + "}}");
  CHECK(TuningTable::load_file(good).ok());
}

TEST_CASE("a kv_8bit bucket's tile is checked at the 8-bit layout", "[config]") {
  // 128 rows, three stages of 64 keys at head_dim 256: 270336 bytes with 16-bit K/V,
  // over sm_90's 232448; 173568 with 8-bit K/V and their per-token scales.
  const TileConfig tile{128, 64, 8, 3};
  CHECK(validate_tile(tile, config_kv_elements(256, true), shared_memory_limit("sm_90")) == "");
  const std::string sixteen =
      validate_tile(tile, config_kv_elements(256, false), shared_memory_limit("sm_90"));
  CHECK(sixteen.rfind("shared memory of 270336 bytes", 0) == 0);
  CHECK(sixteen.find("16-bit K and V") != std::string::npos);
  const std::string bucket = R"({"arch": "sm_90", "prefill": {"default": {"BLOCK_M": 128,
      "BLOCK_N": 64, "num_warps": 8, "num_stages": 2}, "buckets": [{"head_dim_min": 129,
      "head_dim_max": 256, KV "config": {"BLOCK_M": 128, "BLOCK_N": 64, "num_warps": 8,
      "num_stages": 3}}]}})";
  auto with = [&](const std::string& condition) {
    std::string text = bucket;
    text.replace(text.find("KV "), 3, condition);
    return text;
  };
  auto eight = TuningTable::parse(with(R"("kv_8bit": true,)"), "t.json");
  REQUIRE(eight.ok());
  CHECK(eight->pick("prefill", 256, false, false, false, true) == tile);
  CHECK(parse_error(with("")).rfind("t.json: prefill.buckets[0].config: shared memory of 270336 "
                                    "bytes", 0) == 0);
  // Four stages of 128 keys do not fit even 8-bit K/V: the 8-bit check is a real bound,
  // scales included (128 x 528 + 2 x 4 x 128 x (256 + 16 + 4) = 350208 bytes).
  CHECK(validate_tile({128, 128, 8, 4}, config_kv_elements(256, true), shared_memory_limit("sm_90"))
            .rfind("shared memory of 350208 bytes (BLOCK_M 128 + 4 stages of BLOCK_N 128 for "
                   "8-bit K and V with per-token scales", 0) == 0);
}

TEST_CASE("every target's tiles are checked at its own shared memory limit", "[config]") {
  for (const Target& t : all_targets()) {
    INFO(t.name);
    CHECK(shared_memory_limit(std::string(t.name)) == t.max_shared_bytes);
  }
  // Four stages of 64 keys at head_dim 128 with 16-bit K/V (174080 bytes) fit sm_90
  // and not sm_86, whose limit is smaller.
  const TileConfig tile{128, 64, 8, 4};
  const KvElements kv = config_kv_elements(128, false);
  CHECK(validate_tile(tile, kv, shared_memory_limit("sm_90")) == "");
  CHECK(validate_tile(tile, kv, shared_memory_limit("sm_86")).find("101376-byte limit") !=
        std::string::npos);
}

TEST_CASE("split_cost: the cost model's constants per K/V width, defaults when absent",
          "[config]") {
  const std::string tiles =
      R"("paged": {"default": {"BLOCK_M": 64, "BLOCK_N": 64, "num_warps": 4, "num_stages": 2}})";
  auto table_with = [&](const std::string& split_cost) {
    return R"({"arch": "sm_90", )" + tiles + (split_cost.empty() ? "" : ", \"split_cost\": " + split_cost) + "}";
  };
  const std::string set16 = R"({"fixed_per_block": 30, "merge": 8.5, "partial_floor": 0.5,
      "stream_per_unit": 12, "stream_per_cut": 0})";
  // No block: the documented defaults.
  auto none = TuningTable::parse(table_with(""), "t.json");
  REQUIRE(none.ok());
  CHECK(none->split_costs() == kDefaultSplitCosts);
  // One set given: it is read; the other keeps its default.
  auto one = TuningTable::parse(table_with(R"({"kv_16bit": )" + set16 + "}"), "t.json");
  REQUIRE(one.ok());
  CHECK(one->split_costs().kv_16bit == SplitCostModel{30, 8.5, 0.5, 12, 0});
  CHECK(one->split_costs().kv_8bit == kDefaultSplitCosts.kv_8bit);
  CHECK(&one->split_costs().for_kv_bytes(1) == &one->split_costs().kv_8bit);
  CHECK(&one->split_costs().for_kv_bytes(2) == &one->split_costs().kv_16bit);
  CHECK(&one->split_costs().for_kv_bytes(4) == &one->split_costs().kv_16bit);

  auto error = [&](const std::string& split_cost) { return parse_error(table_with(split_cost)); };
  auto with_field = [&](const std::string& field, const std::string& value) {
    std::string set = set16;
    const size_t at = set.find("\"" + field + "\": ");
    REQUIRE(at != std::string::npos);
    const size_t start = at + field.size() + 4, end = set.find_first_of(",}", start);
    set.replace(start, end - start, value);
    return error(R"({"kv_8bit": )" + set + "}");
  };
  CHECK(with_field("partial_floor", "0") ==
        "t.json: split_cost.kv_8bit.partial_floor: expected a number in (0, 1], got 0");
  CHECK(with_field("partial_floor", "1.5") ==
        "t.json: split_cost.kv_8bit.partial_floor: expected a number in (0, 1], got 1.5");
  CHECK(with_field("merge", "-1") ==
        "t.json: split_cost.kv_8bit.merge: expected a number in [0, 1e+06], got -1");
  CHECK(with_field("stream_per_cut", "2e6") ==
        "t.json: split_cost.kv_8bit.stream_per_cut: expected a number in [0, 1e+06], got 2e+06");
  CHECK(with_field("fixed_per_block", "\"22\"") ==
        "t.json: split_cost.kv_8bit.fixed_per_block: expected a number, got string \"22\"");
  CHECK(error(R"({"kv_8bit": {"merge": 1}})") ==
        "t.json: split_cost.kv_8bit: missing required key \"fixed_per_block\"");
  CHECK(error(R"({"kv_16bit": {"fixed_per_blok": 1}})") ==
        "t.json: split_cost.kv_16bit: unknown key \"fixed_per_blok\" (did you mean "
        "\"fixed_per_block\"?)");
  CHECK(error(R"({"kv_4bit": {}})").rfind("t.json: split_cost: unknown key \"kv_4bit\"", 0) == 0);
  CHECK(error("[]") == "t.json: split_cost: expected an object, got array []");
  CHECK(error(R"({"kv_16bit": 3})") == "t.json: split_cost.kv_16bit: expected an object, got number 3");
}

TEST_CASE("the shipped configs carry the split cost constants", "[config]") {
  for (const char* arch : {"sm_80", "sm_86", "sm_89", "sm_90"}) {
    INFO(arch);
    // The file itself states both sets (a missing one would fall back silently) ...
    auto text = embedded_file(std::string("configs/") + arch + ".json");
    REQUIRE(text.has_value());
    const std::string json(*text);
    const size_t block = json.find("\"split_cost\"");
    REQUIRE(block != std::string::npos);
    CHECK(json.find("\"kv_16bit\"", block) != std::string::npos);
    CHECK(json.find("\"kv_8bit\"", block) != std::string::npos);
    // ... with the constants the model was fitted to (so shipping them changed no choice).
    auto table = TuningTable::embedded(arch);
    REQUIRE(table.ok());
    CHECK(table->split_costs() == kDefaultSplitCosts);
  }
  // A changed constant changes the table: the loader reads the file's numbers.
  auto text = embedded_file("configs/sm_90.json");
  REQUIRE(text.has_value());
  std::string changed(*text);
  const size_t at = changed.find("\"merge\": 16.0");
  REQUIRE(at != std::string::npos);
  changed.replace(at, 13, "\"merge\": 17.5");
  auto table = TuningTable::parse(changed, "changed.json");
  REQUIRE(table.ok());
  CHECK(table->split_costs().kv_16bit.merge == 17.5);
}

TEST_CASE("waves_per_eu: AMD tiles take it, CUDA targets' files refuse it", "[config][amd]") {
  const std::string amd = R"({"arch": "gfx942", "prefill": {"default": {"BLOCK_M": 128,
      "BLOCK_N": 64, "num_warps": 4, "num_stages": 2, "waves_per_eu": 3}}})";
  auto table = TuningTable::parse(amd, "t.json");
  INFO((table.ok() ? "" : table.error()));
  REQUIRE(table.ok());
  CHECK(table->pick("prefill", 128, true)->waves_per_eu == 3);
  // Unset: 0, the compiler's choice.
  CHECK(TuningTable::parse(R"({"arch": "gfx90a", "prefill": {"default": {"BLOCK_M": 128,
      "BLOCK_N": 64, "num_warps": 4, "num_stages": 2}}})", "t.json")
            ->pick("prefill", 64, false)
            ->waves_per_eu == 0);
  // The shipped AMD tables set it on the prefill entries up to head_dim 128.
  for (const char* arch : {"gfx90a", "gfx942"}) {
    auto shipped = TuningTable::embedded(arch);
    REQUIRE(shipped.ok());
    CHECK(shipped->pick("prefill", 64, true)->waves_per_eu == 2);
    CHECK(shipped->pick("prefill", 128, true)->waves_per_eu == 2);
    CHECK(shipped->pick("prefill", 256, true)->waves_per_eu == 0);
  }

  // A CUDA target's file: the mma.sync main loop has min_blocks_per_sm instead.
  CHECK(parse_error(with_prefill(R"({"default": {"BLOCK_M": 128, "BLOCK_N": 64, "num_warps": 8,
      "num_stages": 2, "waves_per_eu": 2}})")) ==
        "t.json: prefill.default: waves_per_eu is an AMD setting (the MFMA main loop of gfx90a "
        "and gfx942); the mma_sync main loop's tiles take min_blocks_per_sm instead");
  // sm_90a's wgmma tiles too.
  CHECK(parse_error(R"({"arch": "sm_90a", "prefill": {"default": {"BLOCK_M": 128, "BLOCK_N": 128,
      "num_warps": 12, "num_stages": 2, "waves_per_eu": 2}}})")
            .find("waves_per_eu is an AMD setting") != std::string::npos);
  // Out of range, or not a positive integer.
  const std::string base = R"({"arch": "gfx942", "prefill": {"default": {"BLOCK_M": 128,
      "BLOCK_N": 64, "num_warps": 4, "num_stages": 2, "waves_per_eu": )";
  CHECK(parse_error(base + "9}}}") ==
        "t.json: prefill.default: waves_per_eu must be 1 to 8 (waves resident per SIMD on CDNA), "
        "got 9");
  CHECK(parse_error(base + "0}}}") ==
        "t.json: prefill.default.waves_per_eu: expected a positive integer, got 0");
  CHECK(parse_error(base + "\"2\"}}}") ==
        "t.json: prefill.default.waves_per_eu: expected an integer, got string \"2\"");
  // A tile given through the API is held to the same rule.
  TileConfig cuda_tile{128, 64, 8, 2};
  cuda_tile.waves_per_eu = 2;
  CHECK(validate_tile_for("sm_90", cuda_tile, config_kv_elements(128, false))
            .find("waves_per_eu is an AMD setting") != std::string::npos);
  TileConfig amd_tile{128, 32, 4, 2};
  amd_tile.waves_per_eu = 2;
  CHECK(validate_tile_for("gfx942", amd_tile, config_kv_elements(128, false)) == "");
}
