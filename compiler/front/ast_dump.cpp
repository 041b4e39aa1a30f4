// Text forms of the syntax tree: the indented dump behind `attnjit emit --stage ast`
// and the compact DSL spelling used inside diagnostics.
#include <sstream>

#include "compiler/front/ast.h"
#include "compiler/front/parser.h"

namespace attnjit::front {

namespace ast {

const char* spelling(UnaryOp op) { return op == UnaryOp::negate ? "-" : "!"; }

const char* spelling(BinaryOp op) {
  switch (op) {
    case BinaryOp::add: return "+";
    case BinaryOp::sub: return "-";
    case BinaryOp::mul: return "*";
    case BinaryOp::div: return "/";
    case BinaryOp::mod: return "%";
    case BinaryOp::lt: return "<";
    case BinaryOp::le: return "<=";
    case BinaryOp::gt: return ">";
    case BinaryOp::ge: return ">=";
    case BinaryOp::eq: return "==";
    case BinaryOp::ne: return "!=";
    case BinaryOp::logical_and: return "&&";
    case BinaryOp::logical_or: return "||";
  }
  return "?";
}

namespace {

int precedence(BinaryOp op) {
  switch (op) {
    case BinaryOp::logical_or: return 1;
    case BinaryOp::logical_and: return 2;
    case BinaryOp::eq: case BinaryOp::ne: return 3;
    case BinaryOp::lt: case BinaryOp::le: case BinaryOp::gt: case BinaryOp::ge: return 4;
    case BinaryOp::add: case BinaryOp::sub: return 5;
    default: return 6;
  }
}

void format_into(const Expr& e, std::string& out);

// Left-associative operators: the right operand needs parentheses at equal precedence.
void format_operand(const Expr& e, int parent_precedence, bool right, std::string& out) {
  bool wrap = e.kind == ExprKind::binary &&
              (precedence(e.binary_op) < parent_precedence ||
               (right && precedence(e.binary_op) == parent_precedence));
  if (wrap) out += '(';
  format_into(e, out);
  if (wrap) out += ')';
}

void format_into(const Expr& e, std::string& out) {
  switch (e.kind) {
    case ExprKind::number: out += e.spelling; return;
    case ExprKind::name: out += e.word.text; return;
    case ExprKind::index:
      out += e.word.text + "[";
      format_into(*e.operands[0], out);
      out += "]";
      return;
    case ExprKind::unary:
      out += spelling(e.unary_op);
      format_operand(*e.operands[0], 7, false, out);
      return;
    case ExprKind::binary:
      format_operand(*e.operands[0], precedence(e.binary_op), false, out);
      out += std::string(" ") + spelling(e.binary_op) + " ";
      format_operand(*e.operands[1], precedence(e.binary_op), true, out);
      return;
    case ExprKind::call:
      out += e.word.text + "(";
      for (size_t i = 0; i < e.args.size(); ++i) {
        if (i) out += ", ";
        if (!e.args[i].name.text.empty()) out += e.args[i].name.text + " = ";
        format_into(*e.args[i].value, out);
      }
      out += ")";
      return;
  }
}

}  // namespace

std::string format_expr(const Expr& e) {
  std::string out;
  format_into(e, out);
  return out;
}

}  // namespace ast

namespace {

std::string at(SourceLocation l) {
  return " @" + std::to_string(l.line) + ":" + std::to_string(l.column);
}

class AstDumper {
 public:
  std::string run(const ast::File& file) {
    line(0, "file");
    for (const ast::VariantDecl& v : file.variants) {
      line(1, "variant " + v.name.text + at(v.name.location));
      for (const ast::Statement& s : v.body) std::visit([&](const auto& st) { statement(st); }, s);
    }
    return out_.str();
  }

 private:
  void line(int depth, const std::string& text) { out_ << std::string(2 * depth, ' ') << text << '\n'; }

  void statement(const ast::Setting& s) {
    line(2, "setting " + s.key.text + at(s.key.location));
    expr(*s.value, 3);
    if (s.qualifier) line(3, "qualifier " + s.qualifier->text + at(s.qualifier->location));
  }
  void statement(const ast::ScalarDecl& d) {
    line(2, std::string(d.is_const ? "const " : "param ") + d.name.text + " : " + d.type.text +
                at(d.name.location));
    if (d.value) expr(*d.value, 3);
  }
  void statement(const ast::InputDecl& d) {
    line(2, "input " + d.name.text + " : " + d.element_type.text + "[" + d.extent.text + "]" +
                at(d.name.location));
  }

  void expr(const ast::Expr& e, int depth) {
    switch (e.kind) {
      case ast::ExprKind::number: line(depth, "number " + e.spelling + at(e.location)); return;
      case ast::ExprKind::name: line(depth, "name " + e.word.text + at(e.location)); return;
      case ast::ExprKind::index:
        line(depth, "index " + e.word.text + at(e.location));
        expr(*e.operands[0], depth + 1);
        return;
      case ast::ExprKind::unary:
        line(depth, std::string("unary ") + ast::spelling(e.unary_op) + at(e.location));
        expr(*e.operands[0], depth + 1);
        return;
      case ast::ExprKind::binary:
        line(depth, std::string("binary ") + ast::spelling(e.binary_op) + at(e.word.location));
        expr(*e.operands[0], depth + 1);
        expr(*e.operands[1], depth + 1);
        return;
      case ast::ExprKind::call:
        line(depth, "call " + e.word.text + at(e.location));
        for (const ast::Argument& a : e.args) {
          if (!a.name.text.empty()) {
            line(depth + 1, "named " + a.name.text + at(a.name.location));
            expr(*a.value, depth + 2);
          } else {
            expr(*a.value, depth + 1);
          }
        }
        return;
    }
  }

  std::ostringstream out_;
};

}  // namespace

std::string dump_ast(const ast::File& file) { return AstDumper().run(file); }

}  // namespace attnjit::front
