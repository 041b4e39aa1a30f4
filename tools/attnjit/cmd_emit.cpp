// `attnjit emit --stage ast|ir|dsl|src FILE`: print one stage of the pipeline, to
// see what the compiler made of a variant (and to write golden tests against).
#include <cstdio>

#include "compiler/codegen/codegen.h"
#include "compiler/front/parser.h"
#include "compiler/ir/print.h"
#include "compiler/passes/pipeline.h"
#include "tools/attnjit/commands.h"
#include "tools/attnjit/session.h"

namespace attnjit::cli {

namespace {

void print(const std::string& text) {
  std::fputs(text.c_str(), stdout);
  if (!text.empty() && text.back() != '\n') std::fputc('\n', stdout);
}

SourceFile read_source(const std::string& path) {
  auto file = read_variant_file(path);
  if (!file) {
    std::fputs(render(file.error(), SourceFile{path, {}}).c_str(), stderr);
    throw CommandError(path + ": cannot read the file");
  }
  return std::move(*file);
}

// The syntax tree as written (before lowering), so a file with semantic errors can
// still be inspected. --variant keeps only that variant's declaration.
int emit_ast(const Args& args, const std::string& path) {
  SourceFile source = read_source(path);
  auto parsed = front::parse(source);
  if (!parsed) {
    std::fputs(render(parsed.error(), source).c_str(), stderr);
    throw CommandError(path + ": syntax errors");
  }
  front::ast::File& file = *parsed;
  if (std::optional<std::string> name = args.value(kVariantFlag.name)) {
    front::ast::File one;
    for (front::ast::VariantDecl& decl : file.variants)
      if (decl.name.text == *name) one.variants.push_back(std::move(decl));
    if (one.variants.empty()) throw UsageError("--variant: no variant '" + *name + "' in " + path);
    print(front::dump_ast(one));
    return 0;
  }
  print(front::dump_ast(file));
  return 0;
}

int run_emit(const Args& args) {
  const std::string& path = args.single_positional("FILE");
  std::optional<std::string> stage = args.value("--stage");
  if (!stage) throw UsageError("missing --stage (one of ast, ir, dsl, src)");
  if (*stage == "ast") return emit_ast(args, path);
  if (*stage != "ir" && *stage != "dsl" && *stage != "src")
    throw UsageError("--stage: unknown stage '" + *stage + "' (one of ast, ir, dsl, src)");

  // Check the command line before the file, so a typo is reported as such.
  const KernelKind kind = kernel_kind(args);
  const std::string arch = target_arch(args);
  ir::Module module = load_module(path);

  if (*stage == "ir" || *stage == "dsl") {
    auto text = [&](const auto& x) { return *stage == "ir" ? ir::print_ir(x) : ir::print_dsl(x); };
    print(args.has(kVariantFlag.name) ? text(select_variant(module, args, path)) : text(module));
    return 0;
  }

  const ir::Variant& variant = select_variant(module, args, path);
  Engine engine(engine_options(args, variant, arch));
  auto spec = engine.make_spec(variant, kind, arch);
  if (!spec) throw CommandError(spec.error());
  auto source = render_kernel(*spec);
  if (!source) throw CommandError("code generation failed: " + source.error());
  print(source->text);
  return 0;
}

}  // namespace

const Command& emit_command() {
  static const Command command{
      "emit",
      "print one stage of the pipeline (ast, ir, dsl or generated source)",
      "usage: attnjit emit --stage ast|ir|dsl|src FILE [--variant NAME]\n"
      "                    [--kind prefill|paged|merge|cache_write]\n"
      "                    [--arch sm_90] [--tile BM,BN,W,S | --config FILE.json]\n"
      "\n"
      "  --stage ast   the syntax tree as parsed\n"
      "  --stage ir    the checked, canonical Variant IR with derived facts (KV band)\n"
      "  --stage dsl   the IR printed back as DSL text (parses to the same IR)\n"
      "  --stage src   the generated kernel source for --arch (default sm_90)\n"
      "  --variant     one variant of FILE (required for src when FILE has several)\n"
      "  --kind        kernel kind for src: prefill (default; needs kv_cache =\n"
      "                contiguous), paged and cache_write (need kv_cache = paged(...)),\n"
      "                merge (combines split-KV / cascade partial results)\n"
      "  --tile        BLOCK_M,BLOCK_N,WARPS,STAGES instead of the tuning config\n"
      "  --config      a tuning config JSON file instead of the built-in one\n",
      {{"--stage", true}, kVariantFlag, kKindFlag, kArchFlag, kTileFlag, kConfigFlag},
      run_emit,
  };
  return command;
}

}  // namespace attnjit::cli
