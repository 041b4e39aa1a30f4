// What a variant hook may read about one (query, key) pair: the names of the DSL's
// builtins. Positions are absolute within the sequence.
namespace attnjit {

struct Position {
  int q_pos, kv_pos, q_head, kv_head, seq, q_len, kv_len;
};

}  // namespace attnjit
