// The two text forms of the Variant IR. print_ir is golden-test output: change it only
// deliberately (and regenerate goldens with ATTNJIT_UPDATE_GOLDENS=1). print_dsl must
// keep parsing back to the same IR; tests/front checks that for every test variant.
#include "compiler/ir/print.h"

#include <cmath>
#include <sstream>

namespace attnjit::ir {

namespace {

// Binding strength as in the DSL grammar (C precedence); higher binds tighter.
int precedence(Op op) {
  switch (op) {
    case Op::logical_or: return 1;
    case Op::logical_and: return 2;
    case Op::eq: case Op::ne: return 3;
    case Op::lt: case Op::le: case Op::gt: case Op::ge: return 4;
    case Op::add: case Op::sub: return 5;
    case Op::mul: case Op::div: case Op::mod: return 6;
    case Op::neg: case Op::logical_not: return 7;
    case Op::constant: return 8;  // a negative constant prints as a unary minus: see below
    default: return 9;
  }
}

bool is_binary(Op op) { return precedence(op) <= 6; }

std::string constant_text(const Expr& e) {
  if (e.type == ValueType::boolean) return e.value != 0 ? "true" : "false";
  return format_number(e.value);
}

std::string join_args(const Expr& e, std::string (*print)(const ExprRef&)) {
  std::string out;
  for (size_t i = 0; i < e.args.size(); ++i) {
    if (i) out += ", ";
    out += print(e.args[i]);
  }
  return out;
}

// Leaves shared by both printers: constants, names, indexing, calls.
bool print_leaf(const Expr& e, std::string (*print)(const ExprRef&), std::string* out) {
  switch (e.op) {
    case Op::constant: *out = constant_text(e); return true;
    case Op::builtin: *out = builtin_name(e.builtin); return true;
    case Op::param: *out = e.name; return true;
    case Op::input: *out = e.name + "[" + print(e.args[0]) + "]"; return true;
    case Op::call: *out = e.name + "(" + join_args(e, print) + ")"; return true;
    case Op::select: *out = "select(" + join_args(e, print) + ")"; return true;
    default: return false;
  }
}

// Every operator in parentheses: unambiguous at a glance, for the IR dump.
std::string print_parenthesized(const ExprRef& e) {
  std::string leaf;
  if (print_leaf(*e, print_parenthesized, &leaf)) return leaf;
  // Appended piecewise: chained `"(" + string + ...` trips a GCC 12 -Wrestrict false positive.
  std::string out = "(";
  if (is_binary(e->op)) {
    out += print_parenthesized(e->args[0]);
    out += ' ';
  }
  out += op_spelling(e->op);
  if (is_binary(e->op)) out += ' ';
  out += print_parenthesized(e->args.back());
  out += ')';
  return out;
}

bool is_negative_constant(const ExprRef& e) {
  return e->op == Op::constant && e->type == ValueType::number && std::signbit(e->value);
}

// Minimal parentheses: an operand is wrapped when it binds looser than its operator,
// or equally on the right (every binary operator is left-associative).
std::string print_minimal(const ExprRef& e);

std::string operand(const ExprRef& e, int parent, bool right) {
  int p = is_negative_constant(e) ? 7 : precedence(e->op);
  bool wrap = p < parent || (right && p == parent);
  std::string text = print_minimal(e);
  return wrap ? "(" + text + ")" : text;
}

std::string print_minimal(const ExprRef& e) {
  std::string leaf;
  if (print_leaf(*e, print_minimal, &leaf)) return leaf;
  if (!is_binary(e->op)) {
    // `-(-x)` rather than `--x`: same tree, easier to read.
    const ExprRef& x = e->args[0];
    bool wrap = is_binary(x->op) || x->op == Op::neg || x->op == Op::logical_not ||
                is_negative_constant(x);
    std::string text = print_minimal(x);
    return op_spelling(e->op) + (wrap ? "(" + text + ")" : text);
  }
  int p = precedence(e->op);
  return operand(e->args[0], p, false) + " " + op_spelling(e->op) + " " + operand(e->args[1], p, true);
}

std::string offset_text(const std::optional<long long>& offset) {
  return offset ? std::to_string(*offset) : "unbounded";
}

}  // namespace

std::string print_expr(const ExprRef& e) { return e ? print_minimal(e) : ""; }

std::string print_ir(const Variant& v) {
  std::ostringstream out;
  out << "variant " << v.name << '\n';
  out << "  q_heads: " << v.q_heads << '\n';
  out << "  kv_heads: " << v.kv_heads << '\n';
  out << "  head_dim: " << v.head_dim << '\n';
  out << "  q: " << dtype_name(v.q_type) << '\n';
  out << "  kv: " << dtype_name(v.kv_type) << '\n';
  out << "  kv_scale: " << scale_granularity_name(v.kv_scale) << '\n';
  out << "  out: " << dtype_name(v.out_type) << '\n';
  out << "  kv_cache: " << kv_cache_kind_name(v.kv_cache.kind);
  if (v.kv_cache.kind == KvCacheKind::paged)
    out << " page_size=" << v.kv_cache.page_size << " layout=" << kv_layout_name(v.kv_cache.layout);
  out << '\n';
  out << "  scale: " << format_number(v.softmax_scale()) << (v.scale ? "" : " (default 1/sqrt(head_dim))")
      << '\n';
  out << "  lse: " << (v.lse ? "true" : "false") << '\n';
  out << "  sinks: " << (v.sinks_per_head ? "per_head" : "none") << '\n';
  out << "  bidirectional_ranges: " << (v.bidirectional_ranges ? "per_seq" : "none") << '\n';
  out << "  params:" << (v.params.empty() ? " none" : "") << '\n';
  for (const ScalarParam& p : v.params)
    out << "    " << (p.is_const ? "const " : "param ") << p.name << ": f32 = "
        << format_number(p.default_value) << '\n';
  out << "  inputs:" << (v.inputs.empty() ? " none" : "") << '\n';
  for (const InputArray& in : v.inputs)
    out << "    input " << in.name << ": f32[" << input_extent_name(in.extent) << "]\n";
  out << "  score: " << (v.score ? print_parenthesized(v.score) : "identity") << '\n';
  out << "  mask: " << (v.mask ? print_parenthesized(v.mask) : "none") << '\n';
  out << "  band: lower=" << offset_text(v.band.lower_offset)
      << " upper=" << offset_text(v.band.upper_offset) << " exact=" << (v.band.exact ? "true" : "false")
      << '\n';
  return out.str();
}

std::string print_ir(const Module& m) {
  std::string out;
  for (size_t i = 0; i < m.variants.size(); ++i) {
    if (i) out += '\n';
    out += print_ir(m.variants[i]);
  }
  return out;
}

std::string print_dsl(const Variant& v) {
  std::ostringstream out;
  out << "variant " << v.name << " {\n";
  out << "  heads = " << v.q_heads << " / " << v.kv_heads << ";\n";
  out << "  head_dim = " << v.head_dim << ";\n";
  out << "  q = " << dtype_name(v.q_type) << ";\n";
  out << "  kv = " << dtype_name(v.kv_type);
  if (v.kv_scale != ScaleGranularity::none) out << ' ' << scale_granularity_name(v.kv_scale);
  out << ";\n";
  out << "  out = " << dtype_name(v.out_type) << ";\n";
  if (v.kv_cache.kind == KvCacheKind::paged)
    out << "  kv_cache = paged(page_size = " << v.kv_cache.page_size
        << ", layout = " << kv_layout_name(v.kv_cache.layout) << ");\n";
  else
    out << "  kv_cache = contiguous;\n";
  if (v.scale) out << "  scale = " << format_number(*v.scale) << ";\n";
  if (v.lse) out << "  lse = true;\n";
  if (v.sinks_per_head) out << "  sinks = per_head;\n";
  if (v.bidirectional_ranges) out << "  bidirectional_ranges = per_seq;\n";
  for (const ScalarParam& p : v.params)
    out << "  " << (p.is_const ? "const " : "param ") << p.name << " : f32 = "
        << format_number(p.default_value) << ";\n";
  for (const InputArray& in : v.inputs)
    out << "  input " << in.name << " : f32[" << input_extent_name(in.extent) << "];\n";
  if (v.score) out << "  score = " << print_minimal(v.score) << ";\n";
  if (v.mask) out << "  mask = " << print_minimal(v.mask) << ";\n";
  out << "}\n";
  return out.str();
}

std::string print_dsl(const Module& m) {
  std::string out;
  for (size_t i = 0; i < m.variants.size(); ++i) {
    if (i) out += '\n';
    out += print_dsl(m.variants[i]);
  }
  return out;
}

bool same_variant(const Variant& a, const Variant& b) {
  auto same_params = [](const std::vector<ScalarParam>& x, const std::vector<ScalarParam>& y) {
    if (x.size() != y.size()) return false;
    for (size_t i = 0; i < x.size(); ++i)
      if (x[i].name != y[i].name || x[i].default_value != y[i].default_value ||
          x[i].is_const != y[i].is_const)
        return false;
    return true;
  };
  auto same_inputs = [](const std::vector<InputArray>& x, const std::vector<InputArray>& y) {
    if (x.size() != y.size()) return false;
    for (size_t i = 0; i < x.size(); ++i)
      if (x[i].name != y[i].name || x[i].extent != y[i].extent) return false;
    return true;
  };
  return a.name == b.name && a.q_heads == b.q_heads && a.kv_heads == b.kv_heads &&
         a.head_dim == b.head_dim && a.q_type == b.q_type && a.kv_type == b.kv_type &&
         a.kv_scale == b.kv_scale && a.out_type == b.out_type &&
         a.kv_cache.kind == b.kv_cache.kind && a.kv_cache.page_size == b.kv_cache.page_size &&
         a.kv_cache.layout == b.kv_cache.layout && a.scale == b.scale && a.lse == b.lse &&
         same_expr(a.score, b.score) && same_expr(a.mask, b.mask) && same_params(a.params, b.params) &&
         same_inputs(a.inputs, b.inputs) && a.sinks_per_head == b.sinks_per_head &&
         a.bidirectional_ranges == b.bidirectional_ranges &&
         a.band.lower_offset == b.band.lower_offset && a.band.upper_offset == b.band.upper_offset &&
         a.band.exact == b.band.exact;
}

}  // namespace attnjit::ir
