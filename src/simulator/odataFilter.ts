/**
 * The OData `$filter` language the simulator accepts (reference §2.4, §3.10): a hand-written lexer and
 * recursive-descent parser that compiles a filter straight into a predicate over plain records.
 *
 * Decisions where OData and Defender leave room:
 * - String comparisons ignore case (`eq`, `gt`, `in`, `startswith`, …), as Defender's do in practice: both
 *   sides are lower-cased and then compared by code unit.
 * - Property names match case-insensitively (the samples write `Status`, `MachineId`); operators, function
 *   names and `true`/`false`/`null` are accepted in any case. Lambda variables match exactly.
 * - `not` applies to the comparison after it: `not status eq 'Failed'` means `not (status eq 'Failed')`.
 * - Types are strict: a number field takes a number, a datetime field takes an unquoted or quoted ISO
 *   datetime, a `stringArray` field is only reachable through `any`. `null` takes only `eq`/`ne`.
 * - Datetimes compare at 100 ns precision (Defender writes 7 fractional digits); a value without an offset
 *   is UTC; a date alone (`2018-08-01Z`) is its midnight.
 */

export type ODataFieldType = "string" | "number" | "boolean" | "datetime" | "stringArray";

/** An invalid query; the HTTP layer answers it with 400 `{"error":{"code":"ODataError",…}}`. */
export class ODataQueryError extends Error {
  readonly code = "ODataError" as const;
  constructor(message: string) {
    super(message);
    this.name = "ODataQueryError";
  }
}

type ScalarType = Exclude<ODataFieldType, "stringArray">;

/** A value reduced to what comparisons need: folded strings, numbers, booleans, sortable instants. */
export type ComparableKey = string | number | boolean;

export interface ResolvedField {
  name: string;
  type: ODataFieldType;
}

/** Looks a property up by name, ignoring case; `undefined` when the collection has no such property. */
export type FieldResolver = (name: string) => ResolvedField | undefined;

export function fieldResolver(fields: Readonly<Record<string, ODataFieldType>>): FieldResolver {
  const byFoldedName = new Map(
    Object.entries(fields).map(([name, type]) => [name.toLowerCase(), { name, type }] as const),
  );
  return (name) => byFoldedName.get(name.toLowerCase());
}

export function toComparableKey(type: ScalarType, raw: unknown): ComparableKey | null {
  switch (type) {
    case "string":
      return typeof raw === "string" ? raw.toLowerCase() : null;
    case "number":
      return typeof raw === "number" && Number.isFinite(raw) ? raw : null;
    case "boolean":
      return typeof raw === "boolean" ? raw : null;
    case "datetime":
      if (raw instanceof Date) return Number.isNaN(raw.getTime()) ? null : instantKey(raw.toISOString());
      return typeof raw === "string" ? instantKey(raw) : null;
  }
}

/** Orders keys of one type; null sorts first, as OData orders nulls in ascending order. */
export function compareKeys(a: ComparableKey | null, b: ComparableKey | null): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  return a < b ? -1 : 1;
}

const DATETIME_PARTS =
  /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?(Z|[+-]\d{2}:\d{2})?$/i;

/**
 * An ISO datetime as `YYYY-MM-DDTHH:MM:SS.fffffffZ` in UTC, so plain string order is time order at the
 * 7-digit precision Defender writes (a JavaScript Date would drop the last four digits).
 */
function instantKey(text: string): string | null {
  const parts = DATETIME_PARTS.exec(text);
  if (!parts) return null;
  const [, year, month, day, hour = "0", minute = "0", second = "0", fraction = "", zone = "Z"] = parts;
  const fields = [year, month, day, hour, minute, second].map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const instant = new Date(0);
  instant.setUTCFullYear(fields[0], fields[1] - 1, fields[2]);
  instant.setUTCHours(fields[3], fields[4], fields[5], 0);
  const asWritten = [
    instant.getUTCFullYear(),
    instant.getUTCMonth() + 1,
    instant.getUTCDate(),
    instant.getUTCHours(),
    instant.getUTCMinutes(),
    instant.getUTCSeconds(),
  ];
  if (asWritten.some((value, i) => value !== fields[i])) return null;
  const offsetMinutes = zone.toUpperCase() === "Z" ? 0 : offsetOf(zone);
  if (offsetMinutes === null) return null;
  const utc = new Date(instant.getTime() - offsetMinutes * 60_000);
  return `${utc.toISOString().slice(0, 19)}.${fraction.slice(0, 7).padEnd(7, "0")}Z`;
}

/** `+02:00` → 120; `null` when the hours or minutes are out of range. */
function offsetOf(zone: string): number | null {
  const [hours = 0, minutes = 0] = zone.slice(1).split(":").map(Number);
  if (hours > 23 || minutes > 59) return null;
  return (zone.startsWith("-") ? -1 : 1) * (hours * 60 + minutes);
}

// ---- lexer ----

type Token =
  | { kind: "word" | "number" | "datetime" | "symbol"; text: string; position: number }
  | { kind: "string"; text: string; value: string; position: number }
  | { kind: "end"; text: ""; position: number };

const WORD = /[A-Za-z_][A-Za-z0-9_]*/y;
const DATETIME = /\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:\d{2})?/iy;
const NUMBER = /-?\d+(?:\.\d+)?(?:e[+-]?\d+)?/iy;
const SYMBOLS = "(),/:";

function matchAt(pattern: RegExp, source: string, position: number): string | undefined {
  pattern.lastIndex = position;
  return pattern.exec(source)?.[0];
}

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let position = 0;
  while (position < source.length) {
    const char = source.charAt(position);
    if (/\s/.test(char)) {
      position += 1;
      continue;
    }
    const token = readToken(source, position, char);
    tokens.push(token);
    position += token.text.length;
  }
  tokens.push({ kind: "end", text: "", position: source.length });
  return tokens;
}

function readToken(source: string, position: number, char: string): Token {
  if (SYMBOLS.includes(char)) return { kind: "symbol", text: char, position };
  if (char === "'") return readString(source, position);
  const word = matchAt(WORD, source, position);
  if (word) return { kind: "word", text: word, position };
  const datetime = matchAt(DATETIME, source, position);
  const number = datetime ? undefined : matchAt(NUMBER, source, position);
  const literal = datetime ?? number;
  if (literal) {
    const after = source.charAt(position + literal.length);
    if (/[A-Za-z0-9_.]/.test(after)) {
      const rest = matchAt(/[A-Za-z0-9_.:+-]*/y, source, position) ?? literal;
      throw syntaxError(position, `malformed literal '${rest}'`);
    }
    return { kind: datetime ? "datetime" : "number", text: literal, position };
  }
  throw syntaxError(position, `unexpected character '${char}'`);
}

/** A single-quoted string; `''` inside it stands for one quote. */
function readString(source: string, start: number): Token {
  let value = "";
  let position = start + 1;
  for (;;) {
    const quote = source.indexOf("'", position);
    if (quote === -1) throw syntaxError(start, "unterminated string literal");
    value += source.slice(position, quote);
    if (source.charAt(quote + 1) !== "'") {
      return { kind: "string", text: source.slice(start, quote + 1), value, position: start };
    }
    value += "'";
    position = quote + 2;
  }
}

function syntaxError(position: number, detail: string): ODataQueryError {
  return new ODataQueryError(`Invalid $filter at position ${position}: ${detail}`);
}

function describe(token: Token): string {
  if (token.kind === "end") return "the end of the filter";
  return token.kind === "string" ? token.text : `'${token.text}'`;
}

// ---- parser ----

interface Scope {
  item: Readonly<Record<string, unknown>>;
  /** Lambda variables in force: name → the collection element being tested. */
  variables: Readonly<Record<string, string>>;
}

type Predicate = (scope: Scope) => boolean;

interface Operand {
  type: ScalarType;
  label: string;
  read: (scope: Scope) => ComparableKey | null;
}

const COMPARISONS = {
  eq: (a, b) => a === b,
  ne: (a, b) => a !== b,
  gt: (a, b) => a !== null && b !== null && a > b,
  ge: (a, b) => a !== null && b !== null && a >= b,
  lt: (a, b) => a !== null && b !== null && a < b,
  le: (a, b) => a !== null && b !== null && a <= b,
} satisfies Record<string, (a: ComparableKey | null, b: ComparableKey | null) => boolean>;

const STRING_FUNCTIONS = {
  startswith: (value, argument) => value.startsWith(argument),
  endswith: (value, argument) => value.endsWith(argument),
  contains: (value, argument) => value.includes(argument),
} satisfies Record<string, (value: string, argument: string) => boolean>;

function isOneOf<K extends string>(table: Record<K, unknown>, word: string): word is K {
  return Object.hasOwn(table, word);
}

class FilterParser {
  private index = 0;
  private readonly variables: string[] = [];

  constructor(
    private readonly tokens: readonly Token[],
    private readonly resolveField: FieldResolver,
  ) {}

  parse(): Predicate {
    const predicate = this.parseOr();
    const next = this.peek();
    if (next.kind !== "end") {
      throw syntaxError(next.position, `unexpected ${describe(next)}; expected 'and', 'or' or the end`);
    }
    return predicate;
  }

  private parseOr(): Predicate {
    let left = this.parseAnd();
    while (this.acceptWord("or")) {
      const [a, b] = [left, this.parseAnd()];
      left = (scope) => a(scope) || b(scope);
    }
    return left;
  }

  private parseAnd(): Predicate {
    let left = this.parseUnary();
    while (this.acceptWord("and")) {
      const [a, b] = [left, this.parseUnary()];
      left = (scope) => a(scope) && b(scope);
    }
    return left;
  }

  private parseUnary(): Predicate {
    if (this.acceptWord("not")) {
      const inner = this.parseUnary();
      return (scope) => !inner(scope);
    }
    return this.parsePrimary();
  }

  private parsePrimary(): Predicate {
    const token = this.peek();
    if (this.acceptSymbol("(")) {
      const inner = this.parseOr();
      this.expectSymbol(")", `missing ')' to close the '(' at position ${token.position}`);
      return inner;
    }
    if (token.kind !== "word") {
      throw syntaxError(token.position, `expected a property name, found ${describe(token)}`);
    }
    const next = this.tokens[this.index + 1];
    if (next?.kind === "symbol" && next.text === "(") return this.parseFunction();
    const field = this.variables.includes(token.text) ? undefined : this.resolveField(token.text);
    if (field?.type === "stringArray") return this.parseLambda(field.name);
    return this.parseComparison(this.parseOperand());
  }

  private parseOperand(): Operand {
    const token = this.advance();
    if (token.kind !== "word") {
      throw syntaxError(token.position, `expected a property name, found ${describe(token)}`);
    }
    if (this.variables.includes(token.text)) {
      const name = token.text;
      return {
        type: "string",
        label: name,
        read: (scope) => toComparableKey("string", scope.variables[name]),
      };
    }
    const field = this.resolveField(token.text);
    if (!field) throw syntaxError(token.position, `unknown property '${token.text}'`);
    if (field.type === "stringArray") {
      throw syntaxError(
        token.position,
        `'${field.name}' is a collection; test it with ${field.name}/any(t: t eq '…')`,
      );
    }
    const { name, type } = field;
    return { type, label: name, read: (scope) => toComparableKey(type, scope.item[name]) };
  }

  private parseComparison(operand: Operand): Predicate {
    const token = this.advance();
    const operator = token.kind === "word" ? token.text.toLowerCase() : "";
    if (operator === "in") return this.parseIn(operand);
    if (!isOneOf(COMPARISONS, operator)) {
      throw syntaxError(
        token.position,
        `expected a comparison operator (eq, ne, gt, ge, lt, le, in) after '${operand.label}', found ${describe(token)}`,
      );
    }
    const ordering = operator !== "eq" && operator !== "ne";
    if (ordering && operand.type === "boolean") {
      throw syntaxError(token.position, `'${operator}' cannot compare the boolean '${operand.label}'`);
    }
    const literal = this.parseLiteral(operand);
    if (ordering && literal === null) {
      throw syntaxError(token.position, `'${operator}' cannot compare with null; use eq or ne`);
    }
    const compare = COMPARISONS[operator];
    return (scope) => compare(operand.read(scope), literal);
  }

  private parseIn(operand: Operand): Predicate {
    const open = this.peek();
    this.expectSymbol("(", `expected '(' after 'in', found ${describe(open)}`);
    const accepted = new Set<ComparableKey | null>([this.parseLiteral(operand)]);
    while (this.acceptSymbol(",")) accepted.add(this.parseLiteral(operand));
    this.expectSymbol(")", `missing ')' to close the list at position ${open.position}`);
    return (scope) => accepted.has(operand.read(scope));
  }

  private parseLiteral(operand: Operand): ComparableKey | null {
    const token = this.advance();
    const mismatch = () =>
      syntaxError(token.position, `${describe(token)} is not a ${operand.type} value for '${operand.label}'`);
    switch (token.kind) {
      case "word": {
        const word = token.text.toLowerCase();
        if (word === "null") return null;
        if (word !== "true" && word !== "false") {
          throw syntaxError(token.position, `expected a value, found ${describe(token)}`);
        }
        if (operand.type !== "boolean") throw mismatch();
        return word === "true";
      }
      case "string": {
        if (operand.type === "string") return token.value.toLowerCase();
        if (operand.type !== "datetime") throw mismatch();
        const key = instantKey(token.value);
        if (key === null) throw syntaxError(token.position, `${describe(token)} is not a valid datetime`);
        return key;
      }
      case "number":
        if (operand.type !== "number") throw mismatch();
        return Number(token.text);
      case "datetime": {
        if (operand.type !== "datetime") throw mismatch();
        const key = instantKey(token.text);
        if (key === null) throw syntaxError(token.position, `${describe(token)} is not a valid datetime`);
        return key;
      }
      default:
        throw syntaxError(token.position, `expected a value, found ${describe(token)}`);
    }
  }

  /** `startswith(prop,'x')`, `endswith`, `contains`: case-insensitive like every string comparison. */
  private parseFunction(): Predicate {
    const nameToken = this.advance();
    const name = nameToken.text.toLowerCase();
    if (!isOneOf(STRING_FUNCTIONS, name)) {
      throw syntaxError(
        nameToken.position,
        `unknown function '${nameToken.text}'; supported: startswith, endswith, contains`,
      );
    }
    this.advance();
    const operand = this.parseOperand();
    if (operand.type !== "string") {
      throw syntaxError(nameToken.position, `${name} needs a string property, '${operand.label}' is not`);
    }
    this.expectSymbol(",", `expected ',' in ${name}(…), found ${describe(this.peek())}`);
    const argument = this.advance();
    if (argument.kind !== "string") {
      throw syntaxError(argument.position, `${name} needs a quoted string, found ${describe(argument)}`);
    }
    this.expectSymbol(")", `missing ')' to close ${name}( at position ${nameToken.position}`);
    const test = STRING_FUNCTIONS[name];
    const folded = argument.value.toLowerCase();
    return (scope) => {
      const value = operand.read(scope);
      return typeof value === "string" && test(value, folded);
    };
  }

  /** `machineTags/any(t: <predicate on t>)`, or `machineTags/any()` for "has at least one element". */
  private parseLambda(field: string): Predicate {
    const fieldToken = this.advance();
    this.expectSymbol("/", `'${field}' is a collection; test it with ${field}/any(t: t eq '…')`);
    const lambda = this.advance();
    if (lambda.kind !== "word" || lambda.text.toLowerCase() !== "any") {
      throw syntaxError(lambda.position, `expected 'any' after '${field}/', found ${describe(lambda)}`);
    }
    this.expectSymbol("(", `expected '(' after 'any', found ${describe(this.peek())}`);
    const elementsOf = (scope: Scope) => {
      const value = scope.item[field];
      return Array.isArray(value) ? value.filter((element) => typeof element === "string") : [];
    };
    if (this.acceptSymbol(")")) return (scope) => elementsOf(scope).length > 0;
    const variable = this.advance();
    if (variable.kind !== "word") {
      throw syntaxError(variable.position, `expected a variable name in any(…), found ${describe(variable)}`);
    }
    this.expectSymbol(
      ":",
      `expected ':' after the variable '${variable.text}', found ${describe(this.peek())}`,
    );
    this.variables.push(variable.text);
    const body = this.parseOr();
    this.variables.pop();
    this.expectSymbol(")", `missing ')' to close ${field}/any( at position ${fieldToken.position}`);
    const name = variable.text;
    return (scope) =>
      elementsOf(scope).some((element) =>
        body({ item: scope.item, variables: { ...scope.variables, [name]: element } }),
      );
  }

  private peek(): Token {
    // The token list always ends with an "end" token, which advance() never moves past.
    return this.tokens[this.index] ?? this.tokens[this.tokens.length - 1]!;
  }

  private advance(): Token {
    const token = this.peek();
    if (token.kind !== "end") this.index += 1;
    return token;
  }

  private acceptWord(word: string): boolean {
    const token = this.peek();
    if (token.kind !== "word" || token.text.toLowerCase() !== word) return false;
    this.index += 1;
    return true;
  }

  private acceptSymbol(symbol: string): boolean {
    const token = this.peek();
    if (token.kind !== "symbol" || token.text !== symbol) return false;
    this.index += 1;
    return true;
  }

  private expectSymbol(symbol: string, detail: string): void {
    const token = this.peek();
    if (!this.acceptSymbol(symbol)) throw syntaxError(token.position, detail);
  }
}

/** Compiles a `$filter` into a predicate over records whose properties `resolveField` describes. */
export function compileFilter(
  source: string,
  resolveField: FieldResolver,
): (item: Readonly<Record<string, unknown>>) => boolean {
  if (source.trim() === "") throw new ODataQueryError("Invalid $filter: the expression is empty");
  const predicate = new FilterParser(tokenize(source), resolveField).parse();
  return (item) => predicate({ item, variables: {} });
}
