#pragma once
// Two text forms of the Variant IR:
//  - print_ir: a stable, explicit dump for tests and `attnjit emit --stage ir`
//    (every field, derived facts such as the KV band, expressions fully parenthesized);
//  - print_dsl: DSL text that parses back to the same IR (round trip).
#include <string>

#include "compiler/ir/variant.h"

namespace attnjit::ir {

std::string print_ir(const Variant& v);
std::string print_ir(const Module& m);
std::string print_dsl(const Variant& v);
std::string print_dsl(const Module& m);
std::string print_expr(const ExprRef& e);  // DSL spelling of one expression

// Structural equality of two variants, ignoring source locations.
bool same_variant(const Variant& a, const Variant& b);

}  // namespace attnjit::ir
