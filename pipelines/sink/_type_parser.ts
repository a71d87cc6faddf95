/**
 * Parser of ClickHouse type strings as `system.columns.type` shows them:
 * `Nullable(String)`, `Decimal(10, 2)`, `DateTime64(3, 'UTC')`,
 * `Enum8('a' = 1, 'b' = -2)`, `Tuple(a UInt8, b String)`, `Map(String, T)`.
 *
 * @module
 */

/** One argument of a parametric type. */
export type TypeArg =
  | { kind: "type"; type: TypeNode; field?: string }
  | { kind: "string"; value: string }
  | { kind: "number"; value: string }
  | { kind: "enum"; name: string; value: number };

/** A parsed type: its name and arguments (empty for `String`). */
export interface TypeNode {
  name: string;
  args: TypeArg[];
  /** The type's text, for messages. */
  text: string;
}

type Token =
  | { t: "id"; v: string }
  | { t: "str"; v: string }
  | { t: "num"; v: string }
  | { t: "p"; v: string };

function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (/\s/.test(c)) {
      i++;
    } else if (c === "'") {
      let s = "";
      i++;
      while (i < text.length && text[i] !== "'") {
        if (text[i] === "\\" && i + 1 < text.length) i++;
        s += text[i++];
      }
      if (text[i] !== "'") throw new Error(`unterminated string in ${text}`);
      i++;
      out.push({ t: "str", v: s });
    } else if (/[-0-9]/.test(c)) {
      const m = /^-?\d+(\.\d+)?/.exec(text.slice(i));
      if (!m) throw new Error(`bad number in ${text}`);
      out.push({ t: "num", v: m[0] });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i))!;
      out.push({ t: "id", v: m[0] });
      i += m[0].length;
    } else if (c === "`") {
      const j = text.indexOf("`", i + 1);
      if (j < 0) throw new Error(`unterminated identifier in ${text}`);
      out.push({ t: "id", v: text.slice(i + 1, j) });
      i = j + 1;
    } else if ("(),=".includes(c)) {
      out.push({ t: "p", v: c });
      i++;
    } else {
      throw new Error(`unexpected ${JSON.stringify(c)} in type ${text}`);
    }
  }
  return out;
}

/** Parses a ClickHouse type string; throws on malformed text. */
export function parseType(text: string): TypeNode {
  const toks = tokenize(text);
  let pos = 0;
  const peek = (k = 0) => toks[pos + k];
  const expect = (v: string) => {
    const tk = toks[pos++];
    if (!tk || tk.t !== "p" || tk.v !== v) {
      throw new Error(`expected "${v}" in type ${text}`);
    }
  };
  const type = (start: number): TypeNode => {
    const tk = toks[pos++];
    if (!tk || tk.t !== "id") throw new Error(`expected a type in ${text}`);
    const node: TypeNode = { name: tk.v, args: [], text: "" };
    if (peek()?.t === "p" && peek().v === "(") {
      pos++;
      while (!(peek()?.t === "p" && peek().v === ")")) {
        node.args.push(arg());
        if (peek()?.t === "p" && peek().v === ",") pos++;
        else break;
      }
      expect(")");
    }
    node.text = textOf(start, pos);
    return node;
  };
  const arg = (): TypeArg => {
    const tk = peek();
    if (!tk) throw new Error(`unexpected end of type ${text}`);
    if (tk.t === "str") {
      pos++;
      if (peek()?.t === "p" && peek().v === "=") {
        pos++;
        const n = toks[pos++];
        if (!n || n.t !== "num") throw new Error(`bad enum in ${text}`);
        return { kind: "enum", name: tk.v, value: Number(n.v) };
      }
      return { kind: "string", value: tk.v };
    }
    if (tk.t === "num") {
      pos++;
      return { kind: "number", value: tk.v };
    }
    // Named tuple element: `name Type`.
    if (tk.t === "id" && peek(1)?.t === "id") {
      pos++;
      return { kind: "type", field: tk.v, type: type(pos) };
    }
    return { kind: "type", type: type(pos) };
  };
  const textOf = (a: number, b: number) =>
    toks.slice(a, b).map((t) => t.t === "str" ? `'${t.v}'` : t.v).join("")
      .replace(/,/g, ", ");
  const root = type(0);
  if (pos !== toks.length) throw new Error(`trailing text in type ${text}`);
  root.text = text;
  return root;
}
