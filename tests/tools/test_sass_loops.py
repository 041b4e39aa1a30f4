#!/usr/bin/env python3
"""tools/sass/sass_loops.py on a small listing written like cuobjdump's: the MMA loops
found innermost first, a wait's retry branch after the code left out, spills counted,
and the opcode comparison of two listings."""
import io
import os
import sys
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools", "sass"))
import sass_loops  # noqa: E402


def listing(inner_extra=""):
    """A function with an MMA loop (0x0040-0x00a0) inside a work loop (0x0010-0x00d0),
    the code's EXIT at 0x00e0, then a retry loop of a wait that jumps back (0x0100)."""
    return f"""
        Function : attnjit_prefill_example
        /*0000*/                   MOV R1, c[0x0][0x28] ;                 /* 0x00000a0000017a02 */
        /*0010*/                   SYNCS.PHASECHK.TRANS64.TRYWAIT P0, [UR4], R2 ;
        /*0020*/              @!P0 BRA 0x00f0 ;
        /*0030*/                   STL [R1], R3 ;
        /*0040*/                   HGMMA.64x128x16.F32.BF16 R24, gdesc[UR20], RZ, !UPT ;
        /*0050*/                   FFMA R4, R4, R5, R6 ;
        /*0060*/                   MUFU.EX2 R4, R4 ;
        {inner_extra}
        /*0070*/                   HGMMA.64x128x16.F32.BF16 R24, gdesc[UR20], R24 ;
        /*0080*/                   FADD R7, R7, R4 ;
        /*0090*/                   ISETP.GE.AND P1, PT, R8, R9, PT ;
        /*00a0*/              @!P1 BRA 0x0040 ;
        /*00b0*/                   LDL R3, [R1] ;
        /*00c0*/                   ISETP.NE.AND P2, PT, R3, RZ, PT ;
        /*00d0*/               @P2 BRA 0x0010 ;
        /*00e0*/                   EXIT ;
        /*00f0*/                   SYNCS.PHASECHK.TRANS64.TRYWAIT P0, [UR4], R2 ;
        /*0100*/                   BRA 0x0010 ;
"""


class SassLoopsTest(unittest.TestCase):
    def test_loops_innermost_first_without_retry_branches(self):
        (name, instructions), = sass_loops.functions(listing().splitlines())
        self.assertEqual(name, "attnjit_prefill_example")
        loops = [(start, end, len(body)) for start, end, body in sass_loops.mma_loops(instructions)]
        self.assertEqual(loops, [(0x40, 0xA0, 7), (0x10, 0xD0, 13)])

    def test_report_counts_mma_and_local_memory(self):
        (name, instructions), = sass_loops.functions(listing().splitlines())
        out = io.StringIO()
        sass_loops.report(name, instructions, out)
        self.assertEqual(out.getvalue().splitlines(), [
            "attnjit_prefill_example",
            "  loop 0x0040-0x00a0: 7 instructions, 2 MMA, 0 local-memory",
            "  loop 0x0010-0x00d0: 13 instructions, 2 MMA, 2 local-memory",
            "  function: 17 instructions, 2 MMA, 2 local-memory",
        ])

    def test_compare_lists_the_innermost_loop_changes(self):
        before = sass_loops.innermost_histogram(sass_loops.functions(listing().splitlines())[0][1])
        extra = "/*0065*/                   FMUL R4, R4, R10 ;\n/*0066*/                   FMUL R4, R4, R11 ;"
        after = sass_loops.innermost_histogram(sass_loops.functions(listing(extra).splitlines())[0][1])
        out = io.StringIO()
        sass_loops.compare(before, after, out)
        self.assertEqual(out.getvalue().splitlines(), [
            "innermost MMA loop: 7 -> 9 instructions",
            "  FMUL                                 0     2 +2",
        ])

    def test_a_file_without_functions_is_an_error(self):
        path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"sass_loops_empty_{os.getpid()}.sass")
        with open(path, "w") as f:
            f.write("not a listing\n")
        try:
            self.assertEqual(sass_loops.main([path]), 2)
        finally:
            os.remove(path)


if __name__ == "__main__":
    unittest.main()
