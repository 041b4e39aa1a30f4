"""One generated input and what the suite expects of it beyond the common rules."""
from dataclasses import dataclass


@dataclass
class Case:
    name: str  # unique; also the input's file name
    data: bytes
    kind: str = "variant"  # "variant": a .attn file; "config": a tuning config JSON
    group: str = ""  # what the case probes (a number's position, a mutation's seed file)
    # Preference for the NVRTC sample (0: none; higher first): inputs whose numbers or
    # names reach generated source in ways that have made NVRTC warn or fail.
    compile_rank: int = 0
    # The line the first diagnostic must name (inputs with unusual line endings).
    line: int | None = None
    # Must be accepted: the unmodified real files, so a broken harness cannot pass.
    expect_ok: bool = False

    @property
    def suffix(self) -> str:
        return ".attn" if self.kind == "variant" else ".json"
