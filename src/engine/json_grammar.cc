#include "engine/json_grammar.h"

#include "llama.h"

namespace glmq {

// `ws` after every value and punctuation mark, as JSON allows it between tokens.
const char kJsonObjectGrammar[] = R"gbnf(
root     ::= object
object   ::= "{" ws ( member ( "," ws member )* )? "}" ws
member   ::= string ":" ws value
array    ::= "[" ws ( value ( "," ws value )* )? "]" ws
value    ::= object | array | string | number | literal
literal  ::= ( "true" | "false" | "null" ) ws
string   ::= "\"" ( plain | escape )* "\"" ws
plain    ::= [^"\\\x00-\x1F\x7F]
escape   ::= "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F]{4} )
number   ::= "-"? ( "0" | [1-9] [0-9]{0,15} ) ( "." [0-9]{1,16} )? ( [eE] [-+]? [0-9]{1,3} )? ws
ws       ::= ( " " | "\n" [ \t]{0,20} )?
)gbnf";

llama_sampler* NewJsonObjectSampler(const llama_vocab* vocab) {
  return llama_sampler_init_grammar(vocab, kJsonObjectGrammar, "root");
}

}  // namespace glmq
