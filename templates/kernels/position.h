// What a variant hook may read about one (query, key) pair: the names of the DSL's
// builtins. Positions are absolute within the sequence.
namespace attnjit {

struct Position {
  int q_pos, kv_pos, q_head, kv_head, seq, q_len, kv_len;
  // The positions as floats, kept beside the ints: a score transform that needs
  // float(kv_pos - q_pos) (ALiBi) then subtracts floats instead of converting an int
  // per element, a quarter-rate instruction. Exact below 2^24 tokens.
  float q_pos_f, kv_pos_f;
};

}  // namespace attnjit
