#include "core/json_grammar.h"

#include <map>
#include <set>
#include <string_view>
#include <vector>

#include "core/json_writer.h"

namespace glmq {
namespace {

using nlohmann::json;

// The rules every grammar here ends with: JSON's values, each followed by `ws`, as JSON
// allows whitespace between tokens.
constexpr char kValueRules[] = R"gbnf(
ws       ::= ( " " | "\n" [ \t]{0,20} )?
value    ::= object | array | string | number | boolean | null
object   ::= "{" ws ( string ":" ws value ( "," ws string ":" ws value )* )? "}" ws
array    ::= "[" ws ( value ( "," ws value )* )? "]" ws
string   ::= "\"" ( plain | escape )* "\"" ws
plain    ::= [^"\\\x00-\x1F\x7F]
escape   ::= "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F]{4} )
number   ::= integer-part ( "." [0-9]{1,16} )? ( [eE] [-+]? [0-9]{1,3} )? ws
integer  ::= integer-part ws
integer-part ::= "-"? ( "0" | [1-9] [0-9]{0,15} )
boolean  ::= ( "true" | "false" ) ws
null     ::= "null" ws
)gbnf";

// Deeper than this is refused: each level is a rule, and a schema is a request's bytes.
constexpr int kMaxDepth = 64;

// `text` as a GBNF literal, whose escapes are JSON's for the characters written here: the
// texts are JSON as json::dump writes it, without control characters.
std::string Literal(std::string_view text) {
  std::string out;
  AppendJsonString(out, text);
  return out;
}

// A JSON value written exactly so (compact, as json::dump writes it), then `ws`.
std::string ValueLiteral(const json& value) { return Literal(value.dump()) + " ws"; }

Status Refuse(const std::string& where, const std::string& why) {
  return InvalidArgument("'response_format.json_schema.schema" + where + "' " + why);
}

class SchemaGrammar {
 public:
  explicit SchemaGrammar(const json& root) : root_(root) {}

  Result<std::string> Build() {
    GLMQ_ASSIGN_OR_RETURN(std::string root, Expr(root_, "", 0));
    return "root ::= " + root + "\n" + rules_ + kValueRules;
  }

 private:
  // A GBNF expression for the values that match `schema` (at `where`, for errors).
  Result<std::string> Expr(const json& schema, const std::string& where, int depth) {
    if (depth > kMaxDepth) return Refuse(where, "is nested too deeply");
    if (schema.is_boolean()) {
      if (schema.get<bool>()) return std::string("value");
      return Refuse(where, "is false: no value matches it");
    }
    if (!schema.is_object()) return Refuse(where, "must be a schema (an object)");
    static const std::set<std::string> kKnown = {
        "type",        "properties",      "required", "additionalProperties",
        "items",       "minItems",        "maxItems", "enum",
        "const",       "anyOf",           "$ref",     "$defs",
        "definitions", "propertyOrdering"};
    static const std::set<std::string> kIgnored = {"title",   "description", "default", "examples",
                                                   "$schema", "$id",         "$comment"};
    for (const auto& [key, value] : schema.items()) {
      if (!kKnown.contains(key) && !kIgnored.contains(key)) {
        return Refuse(where, "uses '" + key +
                                 "', which no grammar here enforces (supported: type, "
                                 "properties, required, additionalProperties: false, items, "
                                 "minItems, maxItems, enum, const, anyOf, $ref, $defs, "
                                 "propertyOrdering)");
      }
    }
    if (schema.contains("$defs") && !schema["$defs"].is_object()) {
      return Refuse(where + ".$defs", "must be an object");
    }
    if (auto ref = schema.find("$ref"); ref != schema.end()) return Ref(*ref, where, depth);
    if (auto c = schema.find("const"); c != schema.end()) return ValueLiteral(*c);
    if (auto e = schema.find("enum"); e != schema.end()) {
      if (!e->is_array() || e->empty()) return Refuse(where + ".enum", "must be a non-empty array");
      std::string alternatives;
      for (const json& v : *e)
        alternatives += (alternatives.empty() ? "" : " | ") + Literal(v.dump());
      return "( " + alternatives + " ) ws";
    }
    if (auto any = schema.find("anyOf"); any != schema.end()) {
      if (!any->is_array() || any->empty()) {
        return Refuse(where + ".anyOf", "must be a non-empty array");
      }
      std::vector<std::string> alternatives;
      for (size_t i = 0; i < any->size(); ++i) {
        GLMQ_ASSIGN_OR_RETURN(
            std::string alt,
            Expr((*any)[i], where + ".anyOf[" + std::to_string(i) + "]", depth + 1));
        alternatives.push_back(std::move(alt));
      }
      return Alternatives(alternatives);
    }
    auto type = schema.find("type");
    if (type == schema.end()) {
      if (schema.contains("properties")) return Typed("object", schema, where, depth);
      if (schema.contains("items")) return Typed("array", schema, where, depth);
      return std::string("value");
    }
    if (type->is_string()) return Typed(type->get<std::string>(), schema, where, depth);
    if (!type->is_array() || type->empty()) {
      return Refuse(where + ".type", "must be a type name or a non-empty array of them");
    }
    std::vector<std::string> alternatives;
    for (const json& t : *type) {
      if (!t.is_string()) return Refuse(where + ".type", "must hold type names");
      GLMQ_ASSIGN_OR_RETURN(std::string alt, Typed(t.get<std::string>(), schema, where, depth));
      alternatives.push_back(std::move(alt));
    }
    return Alternatives(alternatives);
  }

  Result<std::string> Typed(const std::string& type, const json& schema, const std::string& where,
                            int depth) {
    if (type == "string" || type == "number" || type == "integer" || type == "boolean" ||
        type == "null") {
      return type;
    }
    if (type == "array") return Array(schema, where, depth);
    if (type == "object") return Object(schema, where, depth);
    return Refuse(where + ".type", "names '" + type +
                                       "' (types: object, array, string, number, integer, "
                                       "boolean, null)");
  }

  Result<std::string> Object(const json& schema, const std::string& where, int depth) {
    if (auto extra = schema.find("additionalProperties");
        extra != schema.end() && *extra != false) {
      return Refuse(where + ".additionalProperties",
                    "must be false: only the listed properties are written");
    }
    auto properties = schema.find("properties");
    if (properties == schema.end()) {
      if (schema.contains("additionalProperties")) return std::string("\"{\" ws \"}\" ws");
      return std::string("object");
    }
    if (!properties->is_object()) return Refuse(where + ".properties", "must be an object");
    std::set<std::string> required;
    if (auto r = schema.find("required"); r != schema.end()) {
      if (!r->is_array()) return Refuse(where + ".required", "must be an array of names");
      for (const json& name : *r) {
        if (!name.is_string()) return Refuse(where + ".required", "must be an array of names");
        if (!properties->contains(name.get<std::string>())) {
          return Refuse(where + ".required", "names '" + name.get<std::string>() +
                                                 "', which is not among its properties");
        }
        required.insert(name.get<std::string>());
      }
    }
    // The order the keys are written in: propertyOrdering's, else their names'.
    std::vector<std::string> order;
    if (auto given = schema.find("propertyOrdering"); given != schema.end()) {
      std::set<std::string> named;
      for (const json& name : given->is_array() ? *given : json::array()) {
        if (name.is_string() && properties->contains(name.get<std::string>()) &&
            named.insert(name.get<std::string>()).second) {
          order.push_back(name.get<std::string>());
        }
      }
      if (!given->is_array() || order.size() != given->size() ||
          order.size() != properties->size()) {
        return Refuse(where + ".propertyOrdering",
                      "must name each of its properties once, in the order to write them");
      }
    } else {
      for (const auto& [name, property] : properties->items()) order.push_back(name);
    }
    std::string body = "\"{\" ws";
    bool first = true;
    for (const std::string& name : order) {
      const json& property = (*properties)[name];
      const std::string at = where + ".properties." + name;
      if (!required.contains(name)) {
        return Refuse(at,
                      "is not in 'required': every property must be (as in OpenAI's strict "
                      "mode); one that may be missing can be null instead, with "
                      "\"type\": [..., \"null\"]");
      }
      GLMQ_ASSIGN_OR_RETURN(std::string value, Expr(property, at, depth + 1));
      body += (first ? " " : " \",\" ws ") + Literal(json(name).dump()) + " ws \":\" ws " + value;
      first = false;
    }
    return NewRule(body + " \"}\" ws");
  }

  Result<std::string> Array(const json& schema, const std::string& where, int depth) {
    std::string item = "value";
    if (auto items = schema.find("items"); items != schema.end()) {
      GLMQ_ASSIGN_OR_RETURN(item, Expr(*items, where + ".items", depth + 1));
    }
    int64_t min = 0, max = -1;
    for (const auto& [key, out] : {std::pair{"minItems", &min}, std::pair{"maxItems", &max}}) {
      if (auto n = schema.find(key); n != schema.end()) {
        if (!n->is_number_unsigned() || n->get<uint64_t>() > 10'000) {
          return Refuse(where + "." + key, "must be a whole number up to 10000");
        }
        *out = n->get<int64_t>();
      }
    }
    if (max >= 0 && max < min) return Refuse(where + ".maxItems", "is less than minItems");
    if (max == 0) return std::string("\"[\" ws \"]\" ws");
    const std::string item_rule = NewRule(item);
    // The first item, then the rest: at least min − 1 more, at most max − 1.
    const std::string rest = "( \",\" ws " + item_rule + " ){" +
                             std::to_string(std::max<int64_t>(min - 1, 0)) + "," +
                             (max < 0 ? "" : std::to_string(max - 1)) + "}";
    const std::string items = item_rule + " " + rest;
    return NewRule("\"[\" ws " + (min == 0 ? "( " + items + " )?" : items) + " \"]\" ws");
  }

  // "#/$defs/Name" or "#/definitions/Name" of the root: one rule, made on first use (so a
  // definition may refer to itself).
  Result<std::string> Ref(const json& ref, const std::string& where, int depth) {
    if (!ref.is_string()) return Refuse(where + ".$ref", "must be a string");
    const std::string target = ref.get<std::string>();
    if (auto known = refs_.find(target); known != refs_.end()) return known->second;
    std::string name;
    const json* defs = nullptr;
    for (const char* prefix : {"#/$defs/", "#/definitions/"}) {
      const std::string_view p(prefix);
      if (target.rfind(p, 0) == 0) {
        name = target.substr(p.size());
        auto d = root_.find(std::string(p.substr(2, p.size() - 3)));
        if (d != root_.end() && d->is_object()) defs = &*d;
      }
    }
    if (defs == nullptr || !defs->contains(name)) {
      return Refuse(where + ".$ref", "names '" + target +
                                         "', which is not a definition of this schema "
                                         "(#/$defs/NAME or #/definitions/NAME)");
    }
    const std::string rule = "def-" + std::to_string(next_++);
    refs_[target] = rule;
    GLMQ_ASSIGN_OR_RETURN(std::string body,
                          Expr((*defs)[name], where + ".$ref(" + name + ")", depth + 1));
    rules_ += rule + " ::= " + body + "\n";
    return rule;
  }

  std::string Alternatives(const std::vector<std::string>& alternatives) {
    std::string out;
    for (const std::string& a : alternatives) out += (out.empty() ? "" : " | ") + a;
    return alternatives.size() == 1 ? out : "( " + out + " )";
  }

  std::string NewRule(const std::string& body) {
    const std::string name = "part-" + std::to_string(next_++);
    rules_ += name + " ::= " + body + "\n";
    return name;
  }

  const json& root_;
  std::string rules_;
  int next_ = 0;
  std::map<std::string, std::string> refs_;  // $ref -> its rule
};

}  // namespace

const std::string& JsonObjectGrammar() {
  static const std::string grammar = std::string("root ::= object\n") + kValueRules;
  return grammar;
}

Result<std::string> JsonSchemaGrammar(const json& schema) { return SchemaGrammar(schema).Build(); }

}  // namespace glmq
