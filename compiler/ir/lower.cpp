// Lowering walks each variant twice: first to learn which names it declares (so a
// score may use a param declared below it), then statement by statement in source
// order, turning each into IR or into a located error. Nothing here throws for user
// mistakes; ATTNJIT_ASSERT in the make_* functions only guards lowering's own logic.
#include "compiler/ir/lower.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "compiler/ir/number_checks.h"
#include "compiler/ir/numeric.h"

namespace attnjit::ir {

namespace {

namespace ast = front::ast;

// --- suggestions -----------------------------------------------------------------------

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t substitute = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
      diagonal = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, substitute});
    }
  }
  return row[b.size()];
}

// The candidate closest to `word` within two edits (the first of equals), if any.
std::optional<std::string> closest(const std::string& word, const std::vector<std::string>& candidates) {
  std::optional<std::string> best;
  size_t best_distance = 3;
  for (const std::string& c : candidates) {
    size_t d = edit_distance(word, c);
    if (d < best_distance) {
      best = c;
      best_distance = d;
    }
  }
  return best;
}

// "; did you mean 'head_dim'?" or "".
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
  std::optional<std::string> best = closest(word, candidates);
  return best ? "; did you mean '" + *best + "'?" : "";
}

// "a, b or c" (or "a, b and c" with conjunction "and").
std::string one_of(const std::vector<std::string>& names, const char* conjunction = "or") {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i) out += i + 1 == names.size() ? std::string(" ") + conjunction + " " : ", ";
    out += names[i];
  }
  return out;
}

std::string quoted(const ast::Expr& e) {
  // Appended piecewise: `"'" + string + "'"` trips a GCC 12 -Wrestrict false positive.
  std::string out = "'";
  out += ast::format_expr(e);
  out += '\'';
  return out;
}

const char* type_phrase(ValueType t) {
  return t == ValueType::number ? "a number" : "a boolean condition";
}

// --- the language's fixed vocabulary -------------------------------------------------------

const std::vector<std::string> kKeys = {"heads", "head_dim", "q",     "kv",   "out",
                                        "kv_cache", "scale", "lse", "score", "mask",
                                        "sinks", "bidirectional_ranges"};

struct RequiredKey {
  const char* key;
  const char* example;
};
constexpr RequiredKey kRequiredKeys[] = {
    {"heads", "heads = 32 / 8;"}, {"head_dim", "head_dim = 128;"}, {"q", "q = bf16;"},
    {"kv", "kv = bf16;"},         {"out", "out = bf16;"},
};

const std::vector<std::string> kComputeTypes = {"bf16", "fp16", "f32"};
// Outputs may also be fp8: the epilogue scales (by a launch-time out_scale), clamps and
// encodes.
const std::vector<std::string> kOutTypes = {"bf16", "fp16", "f32", "fp8_e4m3", "fp8_e5m2"};
const std::vector<std::string> kKvTypes = {"bf16", "fp16", "f32", "fp8_e4m3", "fp8_e5m2", "int8"};
const std::vector<std::string> kGranularities = {"per_tensor", "per_token_head"};
const std::vector<std::string> kExtents = {"q_heads", "kv_heads", "seqs"};
const std::vector<std::string> kMathFunctions = [] {
  std::vector<std::string> names;
  for (const MathFunction& f : math_functions()) names.push_back(f.name);
  return names;
}();
const std::vector<std::string> kSugarFunctions = {"window", "softcap", "alibi", "alibi_sqrt"};
const std::vector<std::string> kBuiltins = {"score",   "q_pos", "kv_pos", "q_head",
                                            "kv_head", "seq",   "q_len",  "kv_len"};

bool contains(const std::vector<std::string>& list, const std::string& word) {
  return std::find(list.begin(), list.end(), word) != list.end();
}

// Names a declaration may not take: they already mean something in expressions.
bool is_reserved_name(const std::string& name) {
  return contains(kBuiltins, name) || contains(kMathFunctions, name) ||
         contains(kSugarFunctions, name) || name == "select" || name == "causal" ||
         name == "true" || name == "false";
}

// --- one variant ---------------------------------------------------------------------------

enum class Context { score, mask };

// What a declared name refers to (the first declaration wins; later ones are errors).
struct Declared {
  const ast::ScalarDecl* scalar = nullptr;
  const ast::InputDecl* input = nullptr;
  std::optional<double> const_value;   // const with a valid literal value
  std::optional<InputExtent> extent;   // input with a valid extent
  SourceLocation location;
};

std::optional<InputExtent> parse_extent(const std::string& text) {
  if (text == "q_heads") return InputExtent::q_heads;
  if (text == "kv_heads") return InputExtent::kv_heads;
  if (text == "seqs") return InputExtent::seqs;
  return std::nullopt;
}

class VariantLowerer {
 public:
  VariantLowerer(const ast::VariantDecl& decl, DiagnosticList& diagnostics)
      : decl_(decl), diagnostics_(diagnostics) {}

  Variant run() {
    variant_.name = decl_.name.text;
    variant_.location = decl_.name.location;
    declare_names();
    prescan_heads();
    numbers_ = std::make_unique<NumberChecker>(numeric_env(), diagnostics_);
    report_missing_keys();
    for (const ast::Statement& s : decl_.body)
      std::visit([&](const auto& statement) { lower_statement(statement); }, s);
    check_scales_have_a_cache();
    return std::move(variant_);
  }

 private:
  void error(SourceLocation at, std::string message) { diagnostics_.error(at, std::move(message)); }
  void note(SourceLocation at, std::string message) { diagnostics_.note(at, std::move(message)); }

  // --- pass 1: names and keys ----------------------------------------------------------
  void declare_names() {
    for (const ast::Statement& s : decl_.body) {
      if (const auto* scalar = std::get_if<ast::ScalarDecl>(&s)) {
        if (declared_.count(scalar->name.text)) continue;
        Declared d;
        d.scalar = scalar;
        d.location = scalar->name.location;
        if (scalar->is_const && scalar->value) d.const_value = silent_constant(*scalar->value);
        if (d.const_value) consts_[scalar->name.text] = *d.const_value;
        declared_.emplace(scalar->name.text, d);
      } else if (const auto* input = std::get_if<ast::InputDecl>(&s)) {
        if (declared_.count(input->name.text)) continue;
        Declared d;
        d.input = input;
        d.location = input->name.location;
        d.extent = parse_extent(input->extent.text);
        declared_.emplace(input->name.text, d);
      }
    }
  }

  // A required key that is absent, and not merely misspelled (`head_dims` already gets
  // "did you mean 'head_dim'?"; saying it is missing too would be the same mistake twice).
  void report_missing_keys() {
    for (const RequiredKey& required : kRequiredKeys) {
      bool present = std::any_of(decl_.body.begin(), decl_.body.end(), [&](const ast::Statement& s) {
        const auto* setting = std::get_if<ast::Setting>(&s);
        if (!setting) return false;
        const std::string& key = setting->key.text;
        return key == required.key ||
               (!contains(kKeys, key) && closest(key, kKeys) == required.key);
      });
      if (!present)
        error(decl_.name.location, "variant '" + decl_.name.text + "' is missing required key '" +
                                       required.key + "' (e.g. " + required.example + ")");
    }
  }

  // --- constant values -------------------------------------------------------------------
  // Heads bound the ranges of q_head and kv_head, which expressions may use before the
  // heads statement: read them ahead (lower_heads reports what is wrong with them).
  void prescan_heads() {
    for (const ast::Statement& s : decl_.body) {
      const auto* setting = std::get_if<ast::Setting>(&s);
      if (!setting || setting->key.text != "heads") continue;
      const ast::Expr& v = *setting->value;
      if (v.kind != ast::ExprKind::binary || v.binary_op != ast::BinaryOp::div) return;
      auto count = [](const ast::Expr& n) {
        bool ok = n.kind == ast::ExprKind::number && n.number == std::floor(n.number) && n.number >= 1 &&
                  n.number <= kMaxHeads;
        return ok ? static_cast<int>(n.number) : 0;
      };
      heads_q_ = count(*v.operands[0]);
      heads_kv_ = count(*v.operands[1]);
      return;
    }
  }

  NumericEnv numeric_env() const { return NumericEnv{heads_q_, heads_kv_, &consts_}; }

  // The IR of a constant expression: numbers combined with unary minus, + - * / and
  // math functions (e.g. 1 / sqrt(128)). Null for anything else. Values are checked and
  // folded by the numeric rules (compiler/ir/numeric.h), like every other expression.
  static ExprRef constant_ir(const ast::Expr& e) {
    switch (e.kind) {
      case ast::ExprKind::number: return make_constant(e.number, e.location);
      case ast::ExprKind::unary: {
        if (e.unary_op != ast::UnaryOp::negate) return nullptr;
        const ast::Expr& x = *e.operands[0];
        if (x.kind == ast::ExprKind::number) return make_constant(-x.number, e.location);
        ExprRef operand = constant_ir(x);
        return operand ? make_unary(Op::neg, operand, e.location) : nullptr;
      }
      case ast::ExprKind::binary: {
        const ast::BinaryOp op = e.binary_op;
        if (op != ast::BinaryOp::add && op != ast::BinaryOp::sub && op != ast::BinaryOp::mul &&
            op != ast::BinaryOp::div)
          return nullptr;
        ExprRef a = constant_ir(*e.operands[0]);
        ExprRef b = constant_ir(*e.operands[1]);
        return a && b ? make_binary(op_of(op), a, b, e.location) : nullptr;
      }
      case ast::ExprKind::call: {
        if (function_arity(e.word.text) != static_cast<int>(e.args.size())) return nullptr;
        std::vector<ExprRef> args;
        for (const ast::Argument& a : e.args) {
          if (!a.name.text.empty()) return nullptr;
          args.push_back(constant_ir(*a.value));
          if (!args.back()) return nullptr;
        }
        return make_call(e.word.text, std::move(args), e.location);
      }
      default: return nullptr;
    }
  }

  // A constant expression's value, checked with located errors. nullopt after an error,
  // or (with *is_constant false) when `e` is not a constant expression.
  std::optional<Number> checked_constant(const ast::Expr& e, bool* is_constant) {
    ExprRef ir = constant_ir(e);
    *is_constant = ir != nullptr;
    if (!ir || !numbers_->check(ir)) return std::nullopt;
    return numbers_->facts().of(*ir).constant;
  }

  // A const's value ahead of its statement (for expressions that use it), or nullopt if
  // it has none yet; its statement reports what is wrong with it.
  std::optional<double> silent_constant(const ast::Expr& e) const {
    ExprRef ir = constant_ir(e);
    if (!ir) return std::nullopt;
    DiagnosticList ignored;
    NumberChecker checker(numeric_env(), ignored);
    if (!checker.check(ir)) return std::nullopt;
    std::optional<Number> n = checker.facts().of(*ir).constant;
    if (!n) return std::nullopt;
    return stored_value(*n);
  }

  // A constant's value as IR constants hold it: integers exactly (nullopt if a double
  // cannot), reals as computed.
  static std::optional<double> stored_value(const Number& n) {
    if (!n.integer) return n.r;
    const double d = static_cast<double>(n.i);
    if (d >= 0x1p63 || static_cast<int64_t>(d) != n.i) return std::nullopt;
    return d;
  }

  // A whole-number literal within [1, max]; reports `what` otherwise.
  std::optional<int> positive_integer(const ast::Expr& e, const std::string& what, int max) {
    if (e.kind != ast::ExprKind::number) {
      error(e.location, what + " must be a whole number, not " + quoted(e));
      return std::nullopt;
    }
    if (e.number != std::floor(e.number) || e.number < 1 || e.number > max) {
      error(e.location, what + " must be a whole number from 1 to " + std::to_string(max) +
                            ", not " + quoted(e));
      return std::nullopt;
    }
    return static_cast<int>(e.number);
  }

  // --- pass 2: statements --------------------------------------------------------------
  // Reports a clash with a builtin or an earlier declaration; true if the name is usable.
  bool check_declared_name(const ast::Word& name, const char* kind, const void* self) {
    if (is_reserved_name(name.text)) {
      error(name.location, "'" + name.text + "' is a reserved name in expressions; choose another name for this " + kind);
      return false;
    }
    const Declared& d = declared_.at(name.text);
    const void* first = d.scalar ? static_cast<const void*>(d.scalar) : d.input;
    if (first != self) {
      error(name.location, "duplicate declaration of '" + name.text + "'");
      note(d.location, "'" + name.text + "' was first declared here");
      return false;
    }
    return true;
  }

  void lower_statement(const ast::ScalarDecl& d) {
    const char* kind = d.is_const ? "const" : "param";
    bool ok = check_declared_name(d.name, kind, &d);
    if (d.type.text != "f32") {
      error(d.type.location, std::string(kind) + " '" + d.name.text + "' must have type f32, not '" +
                                 d.type.text + "'");
      ok = false;
    }
    std::optional<double> value;
    if (!d.value) {
      error(d.name.location, std::string(kind) + " '" + d.name.text + "' has no value; write " +
                                 kind + " " + d.name.text + " : f32 = 1.0;");
    } else if (bool is_constant; std::optional<Number> n = checked_constant(*d.value, &is_constant)) {
      // A param is an f32 at launch: an integer beyond a double's exact range is stored
      // as the f32 it becomes, which a double holds exactly.
      value = d.is_const ? stored_value(*n) : stored_value(*n).value_or(n->real());
      if (!value)
        error(d.value->location, "the value of const '" + d.name.text + "' is " + std::to_string(n->i) +
                                     ", an integer beyond 2^53 that attnjit cannot hold exactly");
    } else if (!is_constant) {
      error(d.value->location, "the value of " + std::string(kind) + " '" + d.name.text +
                                   "' must be a constant number (e.g. 50.0), not " + quoted(*d.value));
    }
    if (!ok || !value) return;
    if (!d.is_const && !within_limit(count_runtime_params(), kMaxParams, "param", d.name,
                                     "runtime scalars travel in a fixed-size kernel argument"))
      return;
    variant_.params.push_back({d.name.text, *value, d.is_const, d.name.location});
  }

  size_t count_runtime_params() const {
    return static_cast<size_t>(std::count_if(variant_.params.begin(), variant_.params.end(),
                                             [](const ScalarParam& p) { return !p.is_const; }));
  }

  // Reports the first declaration past `limit` only: every later one is past it too,
  // and saying so again would bury the file's other errors. `count` is how many are
  // already lowered; true if one more fits.
  bool within_limit(size_t count, int limit, const std::string& kind, const ast::Word& name,
                    const char* why) {
    if (count < static_cast<size_t>(limit)) return true;
    if (limit_reported_.insert(kind).second)
      error(name.location, kind + " '" + name.text + "' is one too many: a variant may declare at most " +
                               std::to_string(limit) + " " + kind + "s (" + why + ")");
    return false;
  }

  void lower_statement(const ast::InputDecl& d) {
    bool ok = check_declared_name(d.name, "input", &d);
    if (d.element_type.text != "f32") {
      error(d.element_type.location, "input '" + d.name.text + "' must have element type f32, not '" +
                                         d.element_type.text + "'");
      ok = false;
    }
    std::optional<InputExtent> extent = parse_extent(d.extent.text);
    if (!extent) {
      error(d.extent.location, "unknown extent '" + d.extent.text + "' for input '" + d.name.text +
                                   "'; expected " + one_of(kExtents) +
                                   did_you_mean(d.extent.text, kExtents));
      ok = false;
    }
    if (!ok) return;
    if (!within_limit(variant_.inputs.size(), kMaxInputs, "input", d.name,
                      "input arrays travel in a fixed-size kernel argument"))
      return;
    variant_.inputs.push_back({d.name.text, *extent, d.name.location});
  }

  void lower_statement(const ast::Setting& s) {
    const std::string& key = s.key.text;
    if (!contains(kKeys, key)) {
      std::string hint = did_you_mean(key, kKeys);
      error(s.key.location, "unknown key '" + key + "'" +
                                (hint.empty() ? "; known keys are " + one_of(kKeys, "and") : hint));
      return;
    }
    auto [first, inserted] = first_setting_.emplace(key, s.key.location);
    if (!inserted) {
      error(s.key.location, "duplicate key '" + key + "' in variant '" + decl_.name.text + "'");
      note(first->second, "'" + key + "' was first set here");
      return;
    }
    if (s.qualifier && key != "kv")
      error(s.qualifier->location, "unexpected '" + s.qualifier->text + "' after the value of '" +
                                       key + "'; only kv takes a scale granularity "
                                       "(e.g. kv = fp8_e4m3 per_tensor;)");
    const ast::Expr& value = *s.value;
    if (key == "heads") return lower_heads(value);
    if (key == "head_dim") return lower_head_dim(value);
    if (key == "q") return (void)lower_dtype(key, value, kComputeTypes, &variant_.q_type);
    if (key == "out") return (void)lower_dtype(key, value, kOutTypes, &variant_.out_type);
    if (key == "kv") return lower_kv(s);
    if (key == "kv_cache") return lower_kv_cache(value);
    if (key == "scale") return lower_scale(value);
    if (key == "lse") return lower_lse(value);
    if (key == "sinks") return lower_sinks(value);
    if (key == "bidirectional_ranges") return lower_bidirectional_ranges(value);
    if (key == "score") return lower_score(value);
    lower_mask(value);
  }

  void lower_heads(const ast::Expr& value) {
    if (value.kind != ast::ExprKind::binary || value.binary_op != ast::BinaryOp::div) {
      error(value.location, "heads must be written QUERY_HEADS / KV_HEADS (e.g. heads = 32 / 8), not " +
                                quoted(value));
      return;
    }
    const ast::Expr& q = *value.operands[0];
    const ast::Expr& kv = *value.operands[1];
    auto q_heads = positive_integer(q, "the number of q heads", kMaxHeads);
    auto kv_heads = positive_integer(kv, "the number of kv heads", kMaxHeads);
    if (!q_heads || !kv_heads) return;
    if (*q_heads % *kv_heads != 0) {
      error(kv.location, "q heads (" + std::to_string(*q_heads) + ") must be a multiple of kv heads (" +
                             std::to_string(*kv_heads) + ")");
      return;
    }
    variant_.q_heads = *q_heads;
    variant_.kv_heads = *kv_heads;
  }

  void lower_head_dim(const ast::Expr& value) {
    if (value.kind != ast::ExprKind::number || value.number != std::floor(value.number)) {
      error(value.location, "head_dim must be a whole number such as 128, not " + quoted(value));
      return;
    }
    double d = value.number;
    if (d < 16 || d > 256 || std::fmod(d, 16) != 0) {
      error(value.location, "head_dim " + value.spelling +
                                " is not supported: head_dim must be a multiple of 16 from 16 to 256");
      return;
    }
    variant_.head_dim = static_cast<int>(d);
  }

  bool lower_dtype(const std::string& key, const ast::Expr& value,
                   const std::vector<std::string>& allowed, DType* out) {
    if (value.kind != ast::ExprKind::name) {
      error(value.location, "'" + key + "' expects a dtype (" + one_of(allowed) + "), not " +
                                quoted(value));
      return false;
    }
    const std::string& name = value.word.text;
    std::optional<DType> type = parse_dtype(name);
    if (!type) {
      std::string hint = did_you_mean(name, allowed);
      error(value.location, "unknown dtype '" + name + "' for '" + key + "'" +
                                (hint.empty() ? "; expected " + one_of(allowed) : hint));
      return false;
    }
    if (!contains(allowed, std::string(dtype_name(*type)))) {
      error(value.location, "'" + key + "' cannot be " + name + "; expected " + one_of(allowed));
      return false;
    }
    *out = *type;
    return true;
  }

  void lower_kv(const ast::Setting& s) {
    if (!lower_dtype("kv", *s.value, kKvTypes, &variant_.kv_type) || !s.qualifier) return;
    const ast::Word& q = *s.qualifier;
    ScaleGranularity granularity;
    if (q.text == "per_tensor") {
      granularity = ScaleGranularity::per_tensor;
    } else if (q.text == "per_token_head") {
      granularity = ScaleGranularity::per_token_head;
    } else {
      std::string hint = did_you_mean(q.text, kGranularities);
      error(q.location, "unknown scale granularity '" + q.text + "'" +
                            (hint.empty() ? "; expected per_tensor or per_token_head" : hint));
      return;
    }
    if (!is_quantized_kv_type(variant_.kv_type)) {
      error(q.location, "scale granularity '" + q.text +
                            "' only applies to quantized kv types (fp8_e4m3, fp8_e5m2, int8), not " +
                            std::string(dtype_name(variant_.kv_type)));
      return;
    }
    variant_.kv_scale = granularity;
    kv_scale_location_ = q.location;
  }

  // K/V scales reach a kernel only through the paged cache's launch arguments (the
  // contiguous prefill kind takes no descales), so a contiguous cache with scaled K/V
  // would silently compute with unscaled values.
  void check_scales_have_a_cache() {
    if (variant_.kv_scale == ScaleGranularity::none || variant_.kv_cache.kind != KvCacheKind::contiguous)
      return;
    error(kv_scale_location_, "scaled K/V ('" + std::string(scale_granularity_name(variant_.kv_scale)) +
                                  "') need kv_cache = paged(...); a contiguous cache takes no scales");
  }

  void lower_kv_cache(const ast::Expr& value) {
    const char* expected =
        "kv_cache must be 'contiguous' or 'paged(page_size = 16, layout = NHD)', not ";
    if (value.kind == ast::ExprKind::name && value.word.text == "contiguous") {
      variant_.kv_cache = KvCache{};
      return;
    }
    bool paged = (value.kind == ast::ExprKind::name || value.kind == ast::ExprKind::call) &&
                 value.word.text == "paged";
    if (!paged) {
      error(value.location, expected + quoted(value));
      return;
    }
    KvCache cache;
    cache.kind = KvCacheKind::paged;
    cache.page_size = 16;
    const std::vector<std::string> known = {"page_size", "layout"};
    std::map<std::string, SourceLocation> seen;
    for (const ast::Argument& arg : value.args) {
      if (arg.name.text.empty()) {
        error(arg.value->location,
              "paged() takes named arguments, e.g. paged(page_size = 16, layout = NHD)");
        continue;
      }
      const std::string& name = arg.name.text;
      if (!contains(known, name)) {
        std::string hint = did_you_mean(name, known);
        error(arg.name.location, "unknown argument '" + name + "' to paged()" +
                                     (hint.empty() ? "; expected page_size or layout" : hint));
        continue;
      }
      if (auto [first, inserted] = seen.emplace(name, arg.name.location); !inserted) {
        error(arg.name.location, "duplicate argument '" + name + "' to paged()");
        note(first->second, "'" + name + "' was first given here");
        continue;
      }
      const ast::Expr& v = *arg.value;
      if (name == "page_size") {
        bool whole = v.kind == ast::ExprKind::number && v.number == std::floor(v.number);
        if (!whole || v.number < 16 || v.number > 4096 || std::fmod(v.number, 16) != 0) {
          error(v.location, "page_size " + ast::format_expr(v) +
                                " is not supported: page_size must be a multiple of 16 from 16 to 4096");
          continue;
        }
        cache.page_size = static_cast<int>(v.number);
      } else if (v.kind == ast::ExprKind::name && (v.word.text == "NHD" || v.word.text == "HND")) {
        cache.layout = v.word.text == "NHD" ? KvLayout::NHD : KvLayout::HND;
      } else {
        error(v.location, "layout must be NHD or HND, not " + quoted(v));
      }
    }
    variant_.kv_cache = cache;
  }

  void lower_scale(const ast::Expr& value) {
    bool is_constant = false;
    std::optional<Number> scale = checked_constant(value, &is_constant);
    if (is_constant && !scale) return;  // reported by the numeric checks
    if (!scale || !(scale->real() > 0)) {
      error(value.location, "scale must be a positive number (default 1/sqrt(head_dim)), not " +
                                quoted(value));
      return;
    }
    variant_.scale = stored_value(*scale).value_or(scale->real());
  }

  void lower_lse(const ast::Expr& value) {
    if (value.kind == ast::ExprKind::name && (value.word.text == "true" || value.word.text == "false")) {
      variant_.lse = value.word.text == "true";
      return;
    }
    error(value.location, "'lse' expects true or false, not " + quoted(value));
  }

  void lower_sinks(const ast::Expr& value) {
    if (value.kind == ast::ExprKind::name &&
        (value.word.text == "per_head" || value.word.text == "none")) {
      variant_.sinks_per_head = value.word.text == "per_head";
      return;
    }
    error(value.location, "'sinks' expects per_head or none, not " + quoted(value));
  }

  // `bidirectional_ranges = per_seq;` only declares that ranges come at launch; the
  // ranges themselves are data (PrefillArgs::bidirectional_ranges), so changing them
  // never recompiles.
  void lower_bidirectional_ranges(const ast::Expr& value) {
    if (value.kind == ast::ExprKind::name &&
        (value.word.text == "per_seq" || value.word.text == "none")) {
      variant_.bidirectional_ranges = value.word.text == "per_seq";
      return;
    }
    error(value.location, "'bidirectional_ranges' expects per_seq or none, not " + quoted(value));
  }

  void lower_score(const ast::Expr& value) {
    ExprRef e = lower_expr(value, Context::score);
    if (!e) return;
    if (e->type != ValueType::number) {
      error(value.location, "score must be a number, but " + quoted(value) + " is a boolean condition");
      return;
    }
    variant_.score = e;
  }

  void lower_mask(const ast::Expr& value) {
    ExprRef e = lower_expr(value, Context::mask);
    if (!e) return;
    if (e->type != ValueType::boolean) {
      error(value.location, "mask must be a boolean condition, but " + quoted(value) + " is a number");
      return;
    }
    variant_.mask = e;
  }

  // --- expressions (null after a reported error) ---------------------------------------
  // Every node is checked against the numeric rules as soon as it is built, so each
  // problem is reported once, in source order, even under a parent that fails.
  ExprRef lower_expr(const ast::Expr& e, Context context) {
    ExprRef node = lower_node(e, context);
    if (node) numbers_->check(node);
    return node;
  }

  ExprRef lower_node(const ast::Expr& e, Context context) {
    switch (e.kind) {
      case ast::ExprKind::number: return make_constant(e.number, e.location);
      case ast::ExprKind::name: return lower_name(e, context);
      case ast::ExprKind::index: return lower_index(e, context);
      case ast::ExprKind::unary: return lower_unary(e, context);
      case ast::ExprKind::binary: return lower_binary(e, context);
      case ast::ExprKind::call: return lower_call(e, context);
    }
    return nullptr;
  }

  std::vector<std::string> names_in_scope(Context context) const {
    std::vector<std::string> names = kBuiltins;
    for (const auto& [name, d] : declared_) names.push_back(name);
    names.push_back("true");
    names.push_back("false");
    if (context == Context::mask) names.push_back("causal");
    return names;
  }

  ExprRef lower_name(const ast::Expr& e, Context context) {
    const std::string& name = e.word.text;
    SourceLocation at = e.location;
    if (name == "true" || name == "false") return make_bool(name == "true", at);
    if (Builtin b; parse_builtin(name, &b)) {
      if (b == Builtin::score && context == Context::mask) {
        error(at, "'score' cannot be used in a mask: the mask decides which keys are visible, "
                  "before any score exists");
        return nullptr;
      }
      return make_builtin(b, at);
    }
    if (name == "causal") {
      if (context != Context::mask) {
        error(at, "'causal' is a mask; use it in 'mask = ...'");
        return nullptr;
      }
      // causal == kv_pos <= q_pos
      return make_binary(Op::le, make_builtin(Builtin::kv_pos, at), make_builtin(Builtin::q_pos, at), at);
    }
    if (auto it = declared_.find(name); it != declared_.end()) {
      if (it->second.input) {
        std::string index = it->second.extent
                                ? builtin_name(input_index_builtin(*it->second.extent))
                                : "q_head";
        error(at, "input '" + name + "' is an array; index it, e.g. " + name + "[" + index + "]");
        return nullptr;
      }
      return make_param(name, at);
    }
    if (contains(kMathFunctions, name) || contains(kSugarFunctions, name) || name == "select") {
      error(at, "'" + name + "' is a function; call it with arguments, e.g. " + name + "(...)");
      return nullptr;
    }
    error(at, "unknown name '" + name + "'" + did_you_mean(name, names_in_scope(context)));
    return nullptr;
  }

  ExprRef lower_index(const ast::Expr& e, Context context) {
    const std::string& name = e.word.text;
    auto it = declared_.find(name);
    if (it == declared_.end() || !it->second.input) {
      bool scalar = parse_builtin(name, nullptr) || it != declared_.end();
      if (scalar)
        error(e.location, "'" + name + "' is a scalar and cannot be indexed");
      else
        error(e.location, "unknown name '" + name + "'" + did_you_mean(name, names_in_scope(context)));
      return nullptr;
    }
    const Declared& input = it->second;
    if (!input.extent) return nullptr;  // its declaration was already reported
    Builtin expected = input_index_builtin(*input.extent);
    const ast::Expr& subscript = *e.operands[0];
    bool right = subscript.kind == ast::ExprKind::name && subscript.word.text == builtin_name(expected);
    if (!right) {
      error(subscript.location, "input '" + name + "' is declared f32[" +
                                    input_extent_name(*input.extent) + "] and must be indexed by " +
                                    builtin_name(expected) + ", not " + quoted(subscript));
      return nullptr;
    }
    return make_input(name, make_builtin(expected, subscript.location), e.location);
  }

  // Reports an operand of the wrong type; true if `operand` has type `want`.
  bool expect_type(const ExprRef& operand, const ast::Expr& source, ValueType want,
                   const std::string& role) {
    if (operand->type == want) return true;
    error(source.location, role + " " + type_phrase(want) + ", but " + quoted(source) + " is " +
                               type_phrase(operand->type));
    return false;
  }

  ExprRef lower_unary(const ast::Expr& e, Context context) {
    const ast::Expr& operand_ast = *e.operands[0];
    // `-3` is the constant -3, so negative literals print and read back unchanged.
    if (e.unary_op == ast::UnaryOp::negate && operand_ast.kind == ast::ExprKind::number)
      return make_constant(-operand_ast.number, e.location);
    ExprRef operand = lower_expr(operand_ast, context);
    if (!operand) return nullptr;
    bool negate = e.unary_op == ast::UnaryOp::negate;
    ValueType want = negate ? ValueType::number : ValueType::boolean;
    if (!expect_type(operand, operand_ast, want,
                     std::string("operator '") + ast::spelling(e.unary_op) + "' needs"))
      return nullptr;
    return make_unary(negate ? Op::neg : Op::logical_not, operand, e.location);
  }

  static Op op_of(ast::BinaryOp op) {
    switch (op) {
      case ast::BinaryOp::add: return Op::add;
      case ast::BinaryOp::sub: return Op::sub;
      case ast::BinaryOp::mul: return Op::mul;
      case ast::BinaryOp::div: return Op::div;
      case ast::BinaryOp::mod: return Op::mod;
      case ast::BinaryOp::lt: return Op::lt;
      case ast::BinaryOp::le: return Op::le;
      case ast::BinaryOp::gt: return Op::gt;
      case ast::BinaryOp::ge: return Op::ge;
      case ast::BinaryOp::eq: return Op::eq;
      case ast::BinaryOp::ne: return Op::ne;
      case ast::BinaryOp::logical_and: return Op::logical_and;
      case ast::BinaryOp::logical_or: return Op::logical_or;
    }
    return Op::add;
  }

  ExprRef lower_binary(const ast::Expr& e, Context context) {
    const ast::Expr& lhs_ast = *e.operands[0];
    const ast::Expr& rhs_ast = *e.operands[1];
    ExprRef lhs = lower_expr(lhs_ast, context);
    ExprRef rhs = lower_expr(rhs_ast, context);
    if (!lhs || !rhs) return nullptr;
    bool logical = e.binary_op == ast::BinaryOp::logical_and || e.binary_op == ast::BinaryOp::logical_or;
    ValueType want = logical ? ValueType::boolean : ValueType::number;
    std::string op = std::string("operator '") + ast::spelling(e.binary_op) + "' needs";
    bool ok = expect_type(lhs, lhs_ast, want, op);
    ok = expect_type(rhs, rhs_ast, want, op) && ok;
    if (!ok) return nullptr;
    return make_binary(op_of(e.binary_op), lhs, rhs, e.location);
  }

  // Lowers positional arguments that must all be numbers; null entries mean failure.
  std::optional<std::vector<ExprRef>> lower_number_args(const ast::Expr& call, Context context) {
    std::vector<ExprRef> args;
    bool ok = true;
    for (const ast::Argument& a : call.args) {
      ExprRef arg = lower_expr(*a.value, context);
      if (!arg) {
        ok = false;
        continue;
      }
      if (!expect_type(arg, *a.value, ValueType::number,
                       "the arguments of '" + call.word.text + "' must be")) {
        ok = false;
        continue;
      }
      args.push_back(arg);
    }
    if (!ok) return std::nullopt;
    return args;
  }

  bool check_arity(const ast::Expr& call, size_t min, size_t max, const std::string& usage) {
    size_t n = call.args.size();
    if (n >= min && n <= max) return true;
    error(call.location, "'" + call.word.text + "' takes " + usage + ", but " + std::to_string(n) +
                             (n == 1 ? " was given" : " were given"));
    return false;
  }

  ExprRef lower_call(const ast::Expr& e, Context context) {
    const std::string& name = e.word.text;
    SourceLocation at = e.location;
    for (const ast::Argument& a : e.args) {
      if (!a.name.text.empty()) {
        error(a.name.location, "named arguments are only allowed in kv_cache = paged(...)");
        return nullptr;
      }
    }
    if (name == "select") return lower_select(e, context);
    if (contains(kSugarFunctions, name)) {
      bool mask_sugar = name == "window";
      if (mask_sugar != (context == Context::mask)) {
        error(at, mask_sugar ? "'window' is a mask; use it in 'mask = ...'"
                             : "'" + name + "' transforms the score; use it in 'score = ...'");
        return nullptr;
      }
      if (name == "window") return lower_window(e, context);
      if (name == "softcap") return lower_softcap(e, context);
      return lower_alibi(e, name == "alibi_sqrt");
    }
    int arity = function_arity(name);
    if (arity >= 0) {
      if (!check_arity(e, arity, arity, arity == 1 ? "1 argument" : std::to_string(arity) + " arguments"))
        return nullptr;
      auto args = lower_number_args(e, context);
      if (!args) return nullptr;
      return make_call(name, std::move(*args), at);
    }
    if (parse_builtin(name, nullptr) || declared_.count(name) || name == "causal") {
      error(at, "'" + name + "' is not a function");
      return nullptr;
    }
    std::vector<std::string> functions = kMathFunctions;
    functions.insert(functions.end(), kSugarFunctions.begin(), kSugarFunctions.end());
    functions.push_back("select");
    error(at, "unknown function '" + name + "'" + did_you_mean(name, functions));
    return nullptr;
  }

  ExprRef lower_select(const ast::Expr& e, Context context) {
    if (!check_arity(e, 3, 3, "3 arguments (condition, if_true, if_false)")) return nullptr;
    std::vector<ExprRef> args;
    for (const ast::Argument& a : e.args) args.push_back(lower_expr(*a.value, context));
    if (!args[0] || !args[1] || !args[2]) return nullptr;
    if (!expect_type(args[0], *e.args[0].value, ValueType::boolean, "the condition of 'select' must be"))
      return nullptr;
    if (args[1]->type != args[2]->type) {
      error(e.args[2].value->location, "the branches of 'select' must have the same type, but " +
                                           quoted(*e.args[1].value) + " is " + type_phrase(args[1]->type) +
                                           " and " + quoted(*e.args[2].value) + " is " +
                                           type_phrase(args[2]->type));
      return nullptr;
    }
    return make_select(args[0], args[1], args[2], e.location);
  }

  // window(left)        == q_pos - kv_pos <= left
  // window(left, right) == q_pos - left <= kv_pos && kv_pos <= q_pos + right
  ExprRef lower_window(const ast::Expr& e, Context context) {
    if (!check_arity(e, 1, 2, "1 or 2 arguments (left[, right])")) return nullptr;
    auto args = lower_number_args(e, context);
    if (!args) return nullptr;
    SourceLocation at = e.location;
    auto q_pos = make_builtin(Builtin::q_pos, at);
    auto kv_pos = make_builtin(Builtin::kv_pos, at);
    if (args->size() == 1) return make_binary(Op::le, make_binary(Op::sub, q_pos, kv_pos, at), (*args)[0], at);
    auto lower = make_binary(Op::le, make_binary(Op::sub, q_pos, (*args)[0], at), kv_pos, at);
    auto upper = make_binary(Op::le, kv_pos, make_binary(Op::add, q_pos, (*args)[1], at), at);
    return make_binary(Op::logical_and, lower, upper, at);
  }

  // softcap(c) == c * tanh(score / c)
  ExprRef lower_softcap(const ast::Expr& e, Context context) {
    if (!check_arity(e, 1, 1, "1 argument (the cap)")) return nullptr;
    auto args = lower_number_args(e, context);
    if (!args) return nullptr;
    const ast::Expr& cap_ast = *e.args[0].value;
    ExprRef cap = (*args)[0];
    if (const std::optional<Number>& value = numbers_->facts().of(*cap).constant; value && value->real() == 0) {
      error(cap_ast.location, "softcap(0) divides by zero; the cap must be nonzero");
      return nullptr;
    }
    SourceLocation at = e.location;
    auto scaled = make_binary(Op::div, make_builtin(Builtin::score, at), cap, at);
    return make_binary(Op::mul, cap, make_call("tanh", {scaled}, at), at);
  }

  // alibi(slopes)      == score + slopes[q_head] * (kv_pos - q_pos)
  // alibi_sqrt(slopes) == score + slopes[q_head] * select(kv_pos <= q_pos, -sqrt(q_pos - kv_pos), 0)
  // The square-root form is vLLM's: the bias grows with the square root of the
  // distance, and the select keeps sqrt away from the negative distances of keys after
  // the query (a non-causal mask may show them; they get no bias).
  ExprRef lower_alibi(const ast::Expr& e, bool square_root) {
    const std::string& name = e.word.text;
    if (!check_arity(e, 1, 1, "1 argument (an input declared f32[q_heads])")) return nullptr;
    const ast::Expr& arg = *e.args[0].value;
    auto it = arg.kind == ast::ExprKind::name ? declared_.find(arg.word.text) : declared_.end();
    if (it == declared_.end() || !it->second.input) {
      error(arg.location, name + "() expects the name of an input declared f32[q_heads], not " + quoted(arg));
      return nullptr;
    }
    if (!it->second.extent) return nullptr;  // already reported at its declaration
    if (*it->second.extent != InputExtent::q_heads) {
      error(arg.location, name + "() needs one slope per query head, but input '" + arg.word.text +
                              "' is declared f32[" + input_extent_name(*it->second.extent) + "]");
      return nullptr;
    }
    SourceLocation at = e.location;
    auto q_pos = [&] { return make_builtin(Builtin::q_pos, at); };
    auto kv_pos = [&] { return make_builtin(Builtin::kv_pos, at); };
    auto slope = make_input(arg.word.text, make_builtin(Builtin::q_head, at), at);
    ExprRef bias;
    if (square_root) {
      auto behind = make_binary(Op::le, kv_pos(), q_pos(), at);
      auto root = make_call("sqrt", {make_binary(Op::sub, q_pos(), kv_pos(), at)}, at);
      bias = make_select(behind, make_unary(Op::neg, root, at), make_constant(0, at), at);
    } else {
      bias = make_binary(Op::sub, kv_pos(), q_pos(), at);
    }
    return make_binary(Op::add, make_builtin(Builtin::score, at), make_binary(Op::mul, slope, bias, at), at);
  }

  const ast::VariantDecl& decl_;
  DiagnosticList& diagnostics_;
  Variant variant_;
  std::map<std::string, Declared> declared_;
  std::map<std::string, SourceLocation> first_setting_;
  SourceLocation kv_scale_location_;  // the kv type's scale qualifier
  std::set<std::string> limit_reported_;  // kinds ("param", "input") already over their limit
  ConstValues consts_;                    // consts with valid values, for the numeric checks
  int heads_q_ = 0, heads_kv_ = 0;        // from the heads statement, 0 if it is unusable
  std::unique_ptr<NumberChecker> numbers_;
};

}  // namespace

Result<Module, DiagnosticList> lower(const front::ast::File& file) {
  DiagnosticList diagnostics;
  Module module;
  std::map<std::string, SourceLocation> first_definition;
  for (const ast::VariantDecl& decl : file.variants) {
    auto [first, inserted] = first_definition.emplace(decl.name.text, decl.name.location);
    if (!inserted) {
      diagnostics.error(decl.name.location, "duplicate variant name '" + decl.name.text + "'");
      diagnostics.note(first->second, "'" + decl.name.text + "' was first defined here");
      continue;
    }
    module.variants.push_back(VariantLowerer(decl, diagnostics).run());
  }
  if (diagnostics.has_errors()) return fail(std::move(diagnostics));
  return module;
}

}  // namespace attnjit::ir
