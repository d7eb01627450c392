/**
 * Typed builders for the OData query options of Defender's list endpoints, so the API client never
 * concatenates raw strings: values only ever appear as escaped literals and field names are checked
 * against a fixed shape, so data from a user or a model cannot change the meaning of a query.
 */

export class InvalidQueryError extends Error {
  readonly code = "INVALID_QUERY" as const;
  constructor(message: string) {
    super(message);
    this.name = "InvalidQueryError";
  }
}

export type ODataFilter = string & { readonly __brand: "ODataFilter" };

export interface ODataQueryOptions {
  filter?: ODataFilter;
  top?: number;
  skip?: number;
  /** `field [asc|desc]`, several separated by commas. */
  orderBy?: string;
}

/** Defender's maximum page size (reference §2.4). */
const MAX_TOP = 10_000;
const FIELD_NAME = /^[A-Za-z][A-Za-z0-9/]*$/;
const ORDER_CLAUSE = /^([A-Za-z][A-Za-z0-9/]*)(?: +(asc|desc))?$/i;

/** `O'Brien` → `'O''Brien'`: OData escapes a quote inside a string literal by doubling it. */
export function odataString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/** A datetime literal as OData writes it: unquoted ISO-8601 UTC with milliseconds. */
export function odataDateTime(date: Date): string {
  if (Number.isNaN(date.getTime())) throw new InvalidQueryError("an OData datetime needs a valid Date");
  return date.toISOString();
}

function fieldName(field: string): string {
  if (!FIELD_NAME.test(field)) {
    throw new InvalidQueryError(`invalid OData field name ${JSON.stringify(field)}`);
  }
  return field;
}

type Scalar = string | number | boolean | Date;

function literal(field: string, value: Scalar): string {
  if (typeof value === "string") return odataString(value);
  if (typeof value === "boolean") return String(value);
  if (value instanceof Date) return odataDateTime(value);
  if (!Number.isFinite(value)) throw new InvalidQueryError(`${field} needs a finite number, got ${value}`);
  return String(value);
}

function brand(text: string): ODataFilter {
  return text as ODataFilter;
}

function comparison<V extends Scalar>(operator: string) {
  return (field: string, value: V): ODataFilter =>
    brand(`${fieldName(field)} ${operator} ${literal(field, value)}`);
}

/** Each operand in parentheses, so `and` inside `or` (and the reverse) keeps the meaning it was built with. */
function combine(operator: "and" | "or", filters: readonly ODataFilter[]): ODataFilter {
  const [first, ...rest] = filters;
  if (first === undefined) throw new InvalidQueryError(`'${operator}' needs at least one filter`);
  if (rest.length === 0) return first;
  return brand(filters.map((f) => `(${f})`).join(` ${operator} `));
}

export const filter = {
  eq: comparison<Scalar>("eq"),
  ne: comparison<Scalar>("ne"),
  ge: comparison<Date | number>("ge"),
  gt: comparison<Date | number>("gt"),
  le: comparison<Date | number>("le"),
  lt: comparison<Date | number>("lt"),
  in(field: string, values: readonly string[]): ODataFilter {
    if (values.length === 0) throw new InvalidQueryError(`'in' on ${field} needs at least one value`);
    return brand(`${fieldName(field)} in (${values.map(odataString).join(",")})`);
  },
  startsWith(field: string, prefix: string): ODataFilter {
    return brand(`startswith(${fieldName(field)},${odataString(prefix)})`);
  },
  /** `machineTags/any(t: t eq 'x')`: an element of a string collection equals `value`. */
  anyEq(collectionField: string, value: string): ODataFilter {
    return brand(`${fieldName(collectionField)}/any(t: t eq ${odataString(value)})`);
  },
  and(...filters: ODataFilter[]): ODataFilter {
    return combine("and", filters);
  },
  or(...filters: ODataFilter[]): ODataFilter {
    return combine("or", filters);
  },
};

function orderBy(text: string): string {
  const clauses = text.split(",").map((clause) => clause.trim());
  for (const clause of clauses) {
    if (!ORDER_CLAUSE.test(clause)) {
      throw new InvalidQueryError(
        `orderBy must be 'field [asc|desc]' (comma-separated), got ${JSON.stringify(clause)}`,
      );
    }
  }
  return clauses.join(",");
}

export function toSearchParams(options: ODataQueryOptions): URLSearchParams {
  const params = new URLSearchParams();
  if (options.filter !== undefined) params.set("$filter", options.filter);
  if (options.top !== undefined) {
    if (!Number.isInteger(options.top) || options.top < 1 || options.top > MAX_TOP) {
      throw new InvalidQueryError(`top must be an integer from 1 to ${MAX_TOP}, got ${options.top}`);
    }
    params.set("$top", String(options.top));
  }
  if (options.skip !== undefined) {
    if (!Number.isSafeInteger(options.skip) || options.skip < 0) {
      throw new InvalidQueryError(`skip must be a non-negative integer, got ${options.skip}`);
    }
    params.set("$skip", String(options.skip));
  }
  if (options.orderBy !== undefined) params.set("$orderby", orderBy(options.orderBy));
  return params;
}
