import {
  ODataQueryError,
  compareKeys,
  compileFilter,
  fieldResolver,
  toComparableKey,
  type ComparableKey,
  type FieldResolver,
  type ODataFieldType,
} from "./odataFilter.js";

/**
 * The OData query options of the simulator's list endpoints (reference §2.4, §3.10): `$filter`, `$orderby`,
 * `$top` and `$skip`, strict as the real API is, so a client that works here sends queries Defender accepts.
 * `$count` is accepted and left to the caller (whether to emit `@odata.count`), `$format` only as JSON;
 * every other `$` option is refused rather than silently ignored. Option names match case-insensitively
 * (OData 4.01); parameters without a `$` are not OData's and are left alone.
 */

export { ODataQueryError, type ODataFieldType };

export interface ODataCollectionSpec {
  fields: Record<string, ODataFieldType>;
  /** The largest `$top` accepted. */
  maxTop: number;
  /**
   * Server-driven paging: the most items one response carries (default `maxTop`). Only when this cuts
   * a page short is there a next page; a client's own `$top` is a total, not a page size.
   */
  pageSize?: number;
  /** The order when `$orderby` is absent; without it, items keep their given order. */
  defaultOrderBy?: { field: string; direction: "asc" | "desc" };
}

export interface ODataPage<T> {
  value: T[];
  /**
   * The page size cut this page short of what the query asked for and more matches follow; the
   * caller turns this into an `@odata.nextLink` with `nextSkip` and `nextTop`.
   */
  hasMore: boolean;
  /** The `$skip` of the page after this one. */
  nextSkip: number;
  /** The `$top` still owed on the next page, when the query had one. */
  nextTop: number | undefined;
  /** Matches before paging. */
  count: number;
}

interface SortKey {
  field: string;
  type: Exclude<ODataFieldType, "stringArray">;
  direction: "asc" | "desc";
}

const SUPPORTED_OPTIONS = ["$filter", "$orderby", "$top", "$skip", "$count", "$format"] as const;
type SupportedOption = (typeof SUPPORTED_OPTIONS)[number];

/** Applies $filter, then $orderby (or defaultOrderBy), then $skip, then $top. Ties keep the given order. */
export function queryCollection<T extends Record<string, unknown>>(
  items: readonly T[],
  params: URLSearchParams,
  spec: ODataCollectionSpec,
): ODataPage<T> {
  const options = readOptions(params);
  const resolveField = fieldResolver(spec.fields);
  const filterText = options.get("$filter");
  const predicate = filterText === undefined ? undefined : compileFilter(filterText, resolveField);
  const orderText = options.get("$orderby");
  const sortKeys = orderText === undefined ? defaultSortKeys(spec) : parseOrderBy(orderText, resolveField);
  const skip = readInteger("$skip", options.get("$skip")) ?? 0;
  const top = readInteger("$top", options.get("$top"));
  if (top !== undefined && top > spec.maxTop) {
    throw new ODataQueryError(`Invalid $top: ${top} is more than the maximum page size ${spec.maxTop}`);
  }
  const pageSize = spec.pageSize ?? spec.maxTop;
  const matches = predicate ? items.filter(predicate) : [...items];
  const ordered = sortStable(matches, sortKeys);
  const value = ordered.slice(skip, skip + Math.min(top ?? pageSize, pageSize));
  const nextSkip = skip + value.length;
  const owed = top === undefined ? Infinity : top - value.length;
  return {
    value,
    hasMore: value.length > 0 && owed > 0 && nextSkip < ordered.length,
    nextSkip,
    nextTop: top === undefined ? undefined : owed,
    count: matches.length,
  };
}

function readOptions(params: URLSearchParams): Map<SupportedOption, string> {
  const options = new Map<SupportedOption, string>();
  for (const [key, value] of params) {
    if (!key.startsWith("$")) continue;
    const name = SUPPORTED_OPTIONS.find((option) => option === key.toLowerCase());
    if (!name) {
      throw new ODataQueryError(
        `The query option '${key}' is not supported; use $filter, $orderby, $top, $skip or $count`,
      );
    }
    if (options.has(name)) throw new ODataQueryError(`The query option '${name}' is given more than once`);
    options.set(name, value);
  }
  const count = options.get("$count");
  if (count !== undefined && !/^(true|false)$/i.test(count)) {
    throw new ODataQueryError(`Invalid $count: expected true or false, got '${count}'`);
  }
  const format = options.get("$format");
  if (format !== undefined && !/^(json|application\/json)(;.*)?$/i.test(format)) {
    throw new ODataQueryError(`Invalid $format: only json is supported, got '${format}'`);
  }
  return options;
}

function readInteger(option: "$top" | "$skip", text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value)) {
    throw new ODataQueryError(`Invalid ${option}: expected a non-negative integer, got '${text}'`);
  }
  return value;
}

function parseOrderBy(text: string, resolveField: FieldResolver): SortKey[] {
  return text.split(",").map((clause) => {
    const parts = /^\s*(\S+)(?:\s+(asc|desc))?\s*$/i.exec(clause);
    if (!parts?.[1]) {
      throw new ODataQueryError(`Invalid $orderby: expected 'property [asc|desc]', got '${clause.trim()}'`);
    }
    const field = resolveField(parts[1]);
    if (!field) throw new ODataQueryError(`Invalid $orderby: unknown property '${parts[1]}'`);
    if (field.type === "stringArray") {
      throw new ODataQueryError(`Invalid $orderby: '${field.name}' is a collection and cannot be ordered`);
    }
    const direction = parts[2]?.toLowerCase() === "desc" ? "desc" : "asc";
    return { field: field.name, type: field.type, direction };
  });
}

function defaultSortKeys(spec: ODataCollectionSpec): SortKey[] {
  if (!spec.defaultOrderBy) return [];
  const { field, direction } = spec.defaultOrderBy;
  const type = spec.fields[field];
  if (type === undefined || type === "stringArray") {
    throw new TypeError(`defaultOrderBy names '${field}', which is not an orderable field of the collection`);
  }
  return [{ field, type, direction }];
}

function sortStable<T extends Record<string, unknown>>(items: T[], sortKeys: readonly SortKey[]): T[] {
  if (sortKeys.length === 0) return items;
  const decorated = items.map((item, position) => ({
    item,
    position,
    keys: sortKeys.map((key): ComparableKey | null => toComparableKey(key.type, item[key.field])),
  }));
  decorated.sort((a, b) => {
    for (const [i, key] of sortKeys.entries()) {
      const order = compareKeys(a.keys[i] ?? null, b.keys[i] ?? null);
      if (order !== 0) return key.direction === "desc" ? -order : order;
    }
    return a.position - b.position;
  });
  return decorated.map(({ item }) => item);
}
