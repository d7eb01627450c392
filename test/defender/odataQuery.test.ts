import { describe, expect, it } from "vitest";
import {
  InvalidQueryError,
  filter,
  odataDateTime,
  odataString,
  toSearchParams,
  type ODataFilter,
  type ODataQueryOptions,
} from "../../src/defender/odataQuery.js";
import { queryCollection, type ODataCollectionSpec } from "../../src/simulator/odata.js";

function invalid(build: () => unknown): InvalidQueryError {
  try {
    build();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidQueryError);
    expect((error as InvalidQueryError).code).toBe("INVALID_QUERY");
    return error as InvalidQueryError;
  }
  throw new Error("expected an InvalidQueryError");
}

describe("literals", () => {
  it("quotes strings and doubles the quotes inside them", () => {
    expect(odataString("web-01")).toBe("'web-01'");
    expect(odataString("O'Brien")).toBe("'O''Brien'");
    expect(odataString("''")).toBe("''''''");
    expect(odataString("")).toBe("''");
  });

  it("writes datetimes unquoted in UTC with milliseconds", () => {
    expect(odataDateTime(new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 678)))).toBe("2024-01-02T03:04:05.678Z");
    expect(invalid(() => odataDateTime(new Date("not a date"))).message).toMatch(/valid Date/);
  });
});

describe("filter builders", () => {
  const at = new Date(Date.UTC(2024, 0, 2));

  it("writes comparisons with typed literals", () => {
    expect(filter.eq("computerDnsName", "O'Brien")).toBe("computerDnsName eq 'O''Brien'");
    expect(filter.eq("rbacGroupId", 10)).toBe("rbacGroupId eq 10");
    expect(filter.eq("isAadJoined", false)).toBe("isAadJoined eq false");
    expect(filter.eq("lastSeen", at)).toBe("lastSeen eq 2024-01-02T00:00:00.000Z");
    expect(filter.ne("status", "Failed")).toBe("status ne 'Failed'");
    expect(filter.ge("creationDateTimeUtc", at)).toBe("creationDateTimeUtc ge 2024-01-02T00:00:00.000Z");
    expect(filter.gt("rbacGroupId", -1.5)).toBe("rbacGroupId gt -1.5");
    expect(filter.le("rbacGroupId", 7)).toBe("rbacGroupId le 7");
    expect(filter.lt("lastSeen", at)).toBe("lastSeen lt 2024-01-02T00:00:00.000Z");
  });

  it("writes in, startswith and any", () => {
    expect(filter.in("status", ["Pending", "In'Progress"])).toBe("status in ('Pending','In''Progress')");
    expect(filter.startsWith("computerDnsName", "web'")).toBe("startswith(computerDnsName,'web''')");
    expect(filter.anyEq("machineTags", "VIP")).toBe("machineTags/any(t: t eq 'VIP')");
  });

  it("parenthesises every operand of and/or so nesting keeps its meaning", () => {
    const a = filter.eq("a", 1);
    const b = filter.eq("b", 2);
    const c = filter.eq("c", 3);
    expect(filter.and(a)).toBe(a);
    expect(filter.or(filter.and(a, b), c)).toBe("((a eq 1) and (b eq 2)) or (c eq 3)");
    expect(filter.and(filter.or(a, b), c)).toBe("((a eq 1) or (b eq 2)) and (c eq 3)");
  });

  it.each<[string, () => unknown, RegExp]>([
    ["a field with a quote", () => filter.eq("name' or 'a", "x"), /invalid OData field name "name' or 'a"/],
    ["a field with a space", () => filter.startsWith("a b", "x"), /invalid OData field name "a b"/],
    ["a field starting with a digit", () => filter.gt("1st", 1), /invalid OData field name "1st"/],
    ["an empty field", () => filter.anyEq("", "x"), /invalid OData field name ""/],
    ["a field with parentheses", () => filter.in("f(x)", ["a"]), /invalid OData field name "f\(x\)"/],
    ["NaN", () => filter.eq("rbacGroupId", Number.NaN), /rbacGroupId needs a finite number, got NaN/],
    ["Infinity", () => filter.lt("rbacGroupId", Infinity), /rbacGroupId needs a finite number/],
    ["an invalid Date", () => filter.ge("lastSeen", new Date(Number.NaN)), /valid Date/],
    ["an empty in list", () => filter.in("status", []), /'in' on status needs at least one value/],
    ["an empty and", () => filter.and(), /'and' needs at least one filter/],
    ["an empty or", () => filter.or(), /'or' needs at least one filter/],
  ])("rejects %s", (_name, build, message) => {
    expect(invalid(build).message).toMatch(message);
  });
});

describe("toSearchParams", () => {
  it("sets only the options given, under their $ names", () => {
    const params = toSearchParams({
      filter: filter.eq("status", "Pending"),
      top: 10_000,
      skip: 0,
      orderBy: "creationDateTimeUtc desc, id",
    });
    expect([...params]).toEqual([
      ["$filter", "status eq 'Pending'"],
      ["$top", "10000"],
      ["$skip", "0"],
      ["$orderby", "creationDateTimeUtc desc,id"],
    ]);
    expect([...toSearchParams({ top: 1 })]).toEqual([["$top", "1"]]);
    expect([...toSearchParams({})]).toEqual([]);
  });

  it.each<[string, ODataQueryOptions, RegExp]>([
    ["top 0", { top: 0 }, /top must be an integer from 1 to 10000, got 0/],
    ["top over the maximum", { top: 10_001 }, /top must be an integer from 1 to 10000, got 10001/],
    ["a fractional top", { top: 2.5 }, /top must be an integer/],
    ["a negative skip", { skip: -1 }, /skip must be a non-negative integer, got -1/],
    ["a fractional skip", { skip: 0.5 }, /skip must be a non-negative integer/],
    [
      "an orderBy with an unknown direction",
      { orderBy: "id descending" },
      /orderBy must be .*"id descending"/,
    ],
    ["an orderBy smuggling an option", { orderBy: "id&$top=1" }, /orderBy must be/],
    ["an empty orderBy clause", { orderBy: "id," }, /orderBy must be .*""/],
  ])("rejects %s", (_name, options, message) => {
    expect(invalid(() => toSearchParams(options)).message).toMatch(message);
  });
});

/**
 * The client's escaping against the simulator's parser: whatever a value contains, an equality filter
 * built from it selects exactly the items whose name equals it (ignoring case, as Defender compares), so
 * injection through a value is inert.
 */
describe("round trip through the simulator's parser", () => {
  const spec: ODataCollectionSpec = {
    fields: { id: "number", computerDnsName: "string", machineTags: "stringArray", lastSeen: "datetime" },
    maxTop: 10_000,
  };

  /** mulberry32: a small seeded generator, so a failure reproduces. */
  function random(seed: number): () => number {
    let state = seed;
    return () => {
      state = (state + 0x6d2b79f5) | 0;
      let t = Math.imul(state ^ (state >>> 15), 1 | state);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  const pieces = [...`aZ0 '(),/:&=+%#?\\"éß中😀\t\n`, "''", " eq ", " or ", " and ", "not ", "$top=1", "%27"];
  const next = random(20240102);
  const generated = Array.from({ length: 300 }, () =>
    Array.from({ length: Math.floor(next() * 10) }, () => pieces[Math.floor(next() * pieces.length)]).join(
      "",
    ),
  );
  const injections = [
    "' or 1 eq 1 or '",
    "x' or computerDnsName ne 'x",
    "') or (computerDnsName ne '",
    "web-01' or startswith(computerDnsName,'",
    "'",
    "''",
    "",
    "O'Brien",
    "o'brien",
    "WEB-01",
    "web-01",
  ];
  const values = [...injections, ...generated];
  const items = values.map((name, id) => ({
    id,
    computerDnsName: name,
    machineTags: [name, "common"],
    lastSeen: new Date(Date.UTC(2024, 0, 1) + id * 1000).toISOString(),
  }));

  /** Through the wire: the query string is encoded and decoded as an HTTP request would carry it. */
  function select(built: ODataFilter): number[] {
    const wire = new URLSearchParams(toSearchParams({ filter: built }).toString());
    return queryCollection(items, wire, spec).value.map((item) => item.id);
  }

  function idsWhere(test: (name: string) => boolean): number[] {
    return items.filter((item) => test(item.computerDnsName.toLowerCase())).map((item) => item.id);
  }

  it("eq selects exactly the items with that name", () => {
    for (const value of values) {
      expect(select(filter.eq("computerDnsName", value)), JSON.stringify(value)).toEqual(
        idsWhere((name) => name === value.toLowerCase()),
      );
    }
  });

  it("ne, in, startsWith and anyEq escape the same way", () => {
    for (const value of values.slice(0, 60)) {
      const folded = value.toLowerCase();
      const label = JSON.stringify(value);
      expect(select(filter.ne("computerDnsName", value)), label).toEqual(idsWhere((name) => name !== folded));
      expect(select(filter.in("computerDnsName", [value, "O'Brien"])), label).toEqual(
        idsWhere((name) => name === folded || name === "o'brien"),
      );
      expect(select(filter.startsWith("computerDnsName", value)), label).toEqual(
        idsWhere((name) => name.startsWith(folded)),
      );
      expect(select(filter.anyEq("machineTags", value)), label).toEqual(
        value.toLowerCase() === "common" ? idsWhere(() => true) : idsWhere((name) => name === folded),
      );
    }
  });

  it("combined filters and dates keep their meaning", () => {
    const since = new Date(Date.UTC(2024, 0, 1, 0, 0, 5));
    const until = new Date(Date.UTC(2024, 0, 1, 0, 0, 8));
    expect(
      select(
        filter.or(filter.and(filter.ge("lastSeen", since), filter.lt("lastSeen", until)), filter.eq("id", 0)),
      ),
    ).toEqual([0, 5, 6, 7]);
    expect(select(filter.and(filter.eq("computerDnsName", "' or 1 eq 1 or '"), filter.gt("id", 0)))).toEqual(
      [],
    );
  });
});
