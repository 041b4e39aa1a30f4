#pragma once
// `attnjit-bench decode ...`: the paged kind timed on decode batches.
int run_decode_command(int argc, char** argv);
