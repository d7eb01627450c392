import { describe, expect, it } from "vitest";
import { ODataQueryError, queryCollection, type ODataCollectionSpec } from "../../src/simulator/odata.js";

const spec: ODataCollectionSpec = {
  fields: {
    id: "string",
    computerDnsName: "string",
    healthStatus: "string",
    osPlatform: "string",
    rbacGroupId: "number",
    isAadJoined: "boolean",
    lastSeen: "datetime",
    machineTags: "stringArray",
  },
  maxTop: 10_000,
};

const machines: Record<string, unknown>[] = [
  {
    id: "m1",
    computerDnsName: "web-01.contoso.com",
    healthStatus: "Active",
    osPlatform: "Windows11",
    rbacGroupId: 10,
    isAadJoined: true,
    lastSeen: "2024-01-01T10:00:00.1234567Z",
    machineTags: ["Prod", "Web"],
  },
  {
    id: "m2",
    computerDnsName: "WEB-02.contoso.com",
    healthStatus: "Inactive",
    osPlatform: "WindowsServer2022",
    rbacGroupId: 20,
    isAadJoined: false,
    lastSeen: "2024-01-02T00:00:00Z",
    machineTags: ["prod-eu"],
  },
  {
    id: "m3",
    computerDnsName: "db-01.fabrikam.com",
    healthStatus: "Active",
    osPlatform: "Linux",
    rbacGroupId: 20,
    isAadJoined: true,
    lastSeen: "2023-12-31T23:59:59.9999999Z",
    machineTags: [],
  },
  {
    id: "m4",
    computerDnsName: "O'Brien-laptop",
    healthStatus: "ImpairedCommunication",
    osPlatform: "macOS",
    rbacGroupId: 30,
    isAadJoined: false,
    lastSeen: "2024-01-01T10:00:00.1234568Z",
    machineTags: ["VIP"],
  },
  { id: "m5", computerDnsName: "(weird) name", healthStatus: "Active", osPlatform: "Linux", lastSeen: null },
  {
    id: "m6",
    computerDnsName: "web-03",
    healthStatus: "Active",
    osPlatform: "Windows11",
    rbacGroupId: 10,
    isAadJoined: true,
    lastSeen: "2024-01-03T00:00:00Z",
    machineTags: ["web"],
  },
];

function query(params: Record<string, string>, collectionSpec: ODataCollectionSpec = spec) {
  return queryCollection(machines, new URLSearchParams(params), collectionSpec);
}

function ids(filter: string, params: Record<string, string> = {}): unknown[] {
  return query({ $filter: filter, ...params }).value.map((machine) => machine.id);
}

function queryError(params: Record<string, string>): ODataQueryError {
  try {
    query(params);
  } catch (error) {
    expect(error).toBeInstanceOf(ODataQueryError);
    return error as ODataQueryError;
  }
  throw new Error(`expected ${JSON.stringify(params)} to be rejected`);
}

describe("$filter comparisons", () => {
  it.each([
    ["healthStatus eq 'Inactive'", ["m2"]],
    ["healthStatus ne 'Active'", ["m2", "m4"]],
    ["rbacGroupId gt 20", ["m4"]],
    ["rbacGroupId ge 20", ["m2", "m3", "m4"]],
    ["rbacGroupId lt 20", ["m1", "m6"]],
    ["rbacGroupId le 20", ["m1", "m2", "m3", "m6"]],
    ["rbacGroupId eq -5", []],
    ["rbacGroupId lt 1.5e2 and rbacGroupId gt 2.5e1", ["m4"]],
    ["isAadJoined eq false", ["m2", "m4"]],
    ["isAadJoined ne true", ["m2", "m4", "m5"]],
  ])("%s", (filter, expected) => {
    expect(ids(filter)).toEqual(expected);
  });

  it("treats a missing value as null: eq null matches it, ne matches it, ordering never does", () => {
    expect(ids("rbacGroupId eq null")).toEqual(["m5"]);
    expect(ids("rbacGroupId ne null")).toEqual(["m1", "m2", "m3", "m4", "m6"]);
    expect(ids("rbacGroupId ne 10")).toEqual(["m2", "m3", "m4", "m5"]);
    expect(ids("rbacGroupId le 1000")).not.toContain("m5");
  });

  it("compares strings case-insensitively, as Defender does", () => {
    expect(ids("computerDnsName eq 'web-02.CONTOSO.com'")).toEqual(["m2"]);
    expect(ids("healthStatus eq 'active'")).toEqual(["m1", "m3", "m5", "m6"]);
    expect(ids("computerDnsName gt 'WEB-01.contoso.com' and computerDnsName lt 'web-03'")).toEqual(["m2"]);
  });

  it("matches property names and operators in any case", () => {
    expect(ids("ComputerDnsName eq 'web-03'")).toEqual(["m6"]);
    expect(ids("HEALTHSTATUS EQ 'Inactive' Or RbacGroupId Eq 30")).toEqual(["m2", "m4"]);
    expect(ids("IsAadJoined eq TRUE and NOT OsPlatform eq 'linux'")).toEqual(["m1", "m6"]);
  });
});

describe("$filter logic", () => {
  it("binds and tighter than or", () => {
    expect(ids("rbacGroupId eq 30 or healthStatus eq 'Active' and rbacGroupId eq 20")).toEqual(["m3", "m4"]);
  });

  it("lets parentheses override precedence, nested", () => {
    expect(ids("(rbacGroupId eq 30 or healthStatus eq 'Active') and rbacGroupId eq 20")).toEqual(["m3"]);
    expect(ids("((osPlatform eq 'Linux') and ((rbacGroupId eq 20)))")).toEqual(["m3"]);
  });

  it("negates the comparison or group after not", () => {
    expect(ids("not healthStatus eq 'Active'")).toEqual(["m2", "m4"]);
    expect(ids("not (rbacGroupId eq 10 or rbacGroupId eq 20)")).toEqual(["m4", "m5"]);
    expect(ids("not not osPlatform eq 'macOS'")).toEqual(["m4"]);
    expect(ids("not startswith(computerDnsName,'web')")).toEqual(["m3", "m4", "m5"]);
  });

  it("matches a value in a list with in", () => {
    expect(ids("osPlatform in ('Linux','MACOS')")).toEqual(["m3", "m4", "m5"]);
    expect(ids("rbacGroupId in (10, 30)")).toEqual(["m1", "m4", "m6"]);
    expect(ids("rbacGroupId in (30, null)")).toEqual(["m4", "m5"]);
    expect(ids("id in ('m2')")).toEqual(["m2"]);
  });

  it("supports startswith, endswith and contains, case-insensitively", () => {
    expect(ids("startswith(computerDnsName,'WEB-')")).toEqual(["m1", "m2", "m6"]);
    expect(ids("endswith(computerDnsName, '.Contoso.com')")).toEqual(["m1", "m2"]);
    expect(ids("contains(computerDnsName,'BRIEN')")).toEqual(["m4"]);
    expect(ids("StartsWith(ComputerDnsName,'db')")).toEqual(["m3"]);
  });

  it("tests string collections with any", () => {
    expect(ids("machineTags/any(t: t eq 'prod')")).toEqual(["m1"]);
    expect(ids("machineTags/any(tag: startswith(tag,'prod'))")).toEqual(["m1", "m2"]);
    expect(ids("machineTags/any(t: t eq 'web' or t eq 'vip')")).toEqual(["m1", "m4", "m6"]);
    expect(ids("machineTags/any(t: t eq 'web' and rbacGroupId eq 10)")).toEqual(["m1", "m6"]);
    expect(ids("MachineTags/ANY(t:t eq 'VIP')")).toEqual(["m4"]);
    expect(ids("machineTags/any()")).toEqual(["m1", "m2", "m4", "m6"]);
    expect(ids("not machineTags/any()")).toEqual(["m3", "m5"]);
  });

  it("reads '' inside a string literal as one quote", () => {
    expect(ids("computerDnsName eq 'O''Brien-laptop'")).toEqual(["m4"]);
    expect(ids("contains(computerDnsName,'''')")).toEqual(["m4"]);
    expect(ids("computerDnsName eq '(weird) name'")).toEqual(["m5"]);
    expect(ids("computerDnsName eq 'O''Brien-laptop'' or ''1'' eq ''1'")).toEqual([]);
  });
});

describe("$filter datetimes", () => {
  it("accepts unquoted datetimes, with or without time, fraction and offset", () => {
    expect(ids("lastSeen lt 2024-01-01Z")).toEqual(["m3"]);
    expect(ids("lastSeen ge 2024-01-02")).toEqual(["m2", "m6"]);
    expect(ids("lastSeen gt 2024-01-01T00:00:00Z and lastSeen lt 2024-01-02T00:00:00.000Z")).toEqual([
      "m1",
      "m4",
    ]);
    expect(ids("lastSeen eq 2024-01-02T02:00:00+02:00")).toEqual(["m2"]);
  });

  it("compares at the 7-digit precision Defender writes", () => {
    expect(ids("lastSeen gt 2024-01-01T10:00:00.1234567Z")).toEqual(["m2", "m4", "m6"]);
    expect(ids("lastSeen eq 2024-01-01T10:00:00.1234568Z")).toEqual(["m4"]);
  });

  it("accepts quoted ISO strings for datetime properties", () => {
    expect(ids("lastSeen eq '2024-01-01T10:00:00.1234567Z'")).toEqual(["m1"]);
    expect(ids("lastSeen le '2023-12-31T23:59:59.9999999Z'")).toEqual(["m3"]);
  });

  it("reads Date values in items as well as ISO strings", () => {
    const items = [
      { id: "a", at: new Date("2024-05-01T00:00:00Z") },
      { id: "b", at: new Date("2024-06-01T00:00:00Z") },
    ];
    const page = queryCollection(items, new URLSearchParams({ $filter: "at gt 2024-05-15Z" }), {
      fields: { id: "string", at: "datetime" },
      maxTop: 10,
    });
    expect(page.value.map((item) => item.id)).toEqual(["b"]);
  });
});

describe("$orderby", () => {
  it("sorts by several keys, asc and desc, nulls first in ascending order", () => {
    const page = query({ $orderby: "rbacGroupId desc, computerDnsName" });
    expect(page.value.map((m) => m.id)).toEqual(["m4", "m3", "m2", "m1", "m6", "m5"]);
  });

  it("keeps the given order among ties", () => {
    const page = query({ $orderby: "healthStatus asc" });
    expect(page.value.map((m) => m.id)).toEqual(["m1", "m3", "m5", "m6", "m4", "m2"]);
  });

  it("orders strings case-insensitively and datetimes by instant", () => {
    expect(ids("startswith(computerDnsName,'web')", { $orderby: "ComputerDnsName" })).toEqual([
      "m1",
      "m2",
      "m6",
    ]);
    expect(query({ $orderby: "lastSeen DESC" }).value.map((m) => m.id)).toEqual([
      "m6",
      "m2",
      "m4",
      "m1",
      "m3",
      "m5",
    ]);
  });

  it("uses the collection's default order unless $orderby is given", () => {
    const newestFirst: ODataCollectionSpec = {
      ...spec,
      defaultOrderBy: { field: "lastSeen", direction: "desc" },
    };
    expect(query({}, newestFirst).value.map((m) => m.id)).toEqual(["m6", "m2", "m4", "m1", "m3", "m5"]);
    expect(query({ $orderby: "id desc" }, newestFirst).value.map((m) => m.id)).toEqual([
      "m6",
      "m5",
      "m4",
      "m3",
      "m2",
      "m1",
    ]);
  });
});

describe("paging", () => {
  it("applies $skip then $top after filtering and ordering, and counts matches before paging", () => {
    const page = query({ $filter: "healthStatus eq 'Active'", $orderby: "id desc", $skip: "1", $top: "2" });
    expect(page).toEqual({
      value: [expect.objectContaining({ id: "m5" }), expect.objectContaining({ id: "m3" })],
      hasMore: false,
      nextSkip: 3,
      nextTop: 0,
      count: 4,
    });
  });

  it("cuts pages at the server's page size and owes the rest of $top on the next page", () => {
    const paged: ODataCollectionSpec = { ...spec, pageSize: 2 };
    expect(query({ $top: "5" }, paged)).toMatchObject({ hasMore: true, nextSkip: 2, nextTop: 3 });
    expect(query({ $top: "3", $skip: "2" }, paged)).toMatchObject({ hasMore: true, nextSkip: 4, nextTop: 1 });
    expect(query({ $top: "5", $skip: "4" }, paged)).toMatchObject({
      hasMore: false,
      nextSkip: 6,
      nextTop: 3,
    });
    expect(query({ $top: "2" }, paged)).toMatchObject({ hasMore: false, nextTop: 0 });
    expect(query({}, paged)).toMatchObject({ hasMore: true, nextSkip: 2, nextTop: undefined });
  });

  it("reports the last page", () => {
    const page = query({ $skip: "4", $top: "5" });
    expect(page.value.map((m) => m.id)).toEqual(["m5", "m6"]);
    expect(page).toMatchObject({ hasMore: false, nextSkip: 6, count: 6 });
  });

  it("uses maxTop as the page size when none is set, and walks every item by nextSkip", () => {
    const small: ODataCollectionSpec = { ...spec, maxTop: 4 };
    const seen: unknown[] = [];
    let skip = 0;
    for (;;) {
      const page = query({ $skip: String(skip) }, small);
      expect(page.value.length).toBeLessThanOrEqual(4);
      seen.push(...page.value.map((m) => m.id));
      if (!page.hasMore) break;
      skip = page.nextSkip;
    }
    expect(seen).toEqual(["m1", "m2", "m3", "m4", "m5", "m6"]);
  });

  it("accepts $top=0 and a $skip past the end, neither pointing at a further page", () => {
    expect(query({ $top: "0" })).toEqual({ value: [], hasMore: false, nextSkip: 0, nextTop: 0, count: 6 });
    expect(query({ $skip: "50" })).toEqual({
      value: [],
      hasMore: false,
      nextSkip: 50,
      nextTop: undefined,
      count: 6,
    });
  });

  it("accepts $count and $format=json, and leaves non-OData parameters alone", () => {
    const page = query({ $count: "true", $format: "json", "api-version": "1", $filter: "id eq 'm1'" });
    expect(page.value.map((m) => m.id)).toEqual(["m1"]);
    expect(query({ $COUNT: "false", $Top: "1" }).value).toHaveLength(1);
  });
});

describe("errors", () => {
  it.each<[string, Record<string, string>, RegExp]>([
    [
      "unknown property in $filter",
      { $filter: "rbacGroupId eq 1 and owner eq 'x'" },
      /position 21: unknown property 'owner'/,
    ],
    ["unknown property in $orderby", { $orderby: "id, owner desc" }, /\$orderby: unknown property 'owner'/],
    ["an unexpected character", { $filter: "id eq 'm1' # comment" }, /position 11: unexpected character '#'/],
    [
      "a misspelt operator",
      { $filter: "id eqq 'm1'" },
      /position 3: expected a comparison operator .* found 'eqq'/,
    ],
    ["an unterminated string", { $filter: "id eq 'O''Brien" }, /position 6: unterminated string literal/],
    [
      "an unclosed parenthesis",
      { $filter: "(id eq 'm1' or id eq 'm2'" },
      /missing '\)' to close the '\(' at position 0/,
    ],
    ["an extra closing parenthesis", { $filter: "id eq 'm1')" }, /position 10: unexpected '\)'/],
    ["trailing tokens", { $filter: "id eq 'm1' 'm2'" }, /position 11: unexpected 'm2'; expected 'and', 'or'/],
    [
      "a dangling and",
      { $filter: "id eq 'm1' and" },
      /expected a property name, found the end of the filter/,
    ],
    [
      "a value where a property belongs",
      { $filter: "'m1' eq id" },
      /position 0: expected a property name, found 'm1'/,
    ],
    ["a missing value", { $filter: "id eq" }, /expected a value, found the end/],
    [
      "a property where a value belongs",
      { $filter: "id eq computerDnsName" },
      /expected a value, found 'computerDnsName'/,
    ],
    [
      "a string for a number",
      { $filter: "rbacGroupId eq '10'" },
      /'10' is not a number value for 'rbacGroupId'/,
    ],
    ["a number for a string", { $filter: "id eq 10" }, /'10' is not a string value for 'id'/],
    ["a datetime for a string", { $filter: "id eq 2024-01-01Z" }, /is not a string value/],
    ["a malformed number", { $filter: "rbacGroupId eq 10abc" }, /malformed literal '10abc'/],
    ["an impossible datetime", { $filter: "lastSeen gt 2024-02-30T00:00:00Z" }, /is not a valid datetime/],
    ["a quoted non-datetime", { $filter: "lastSeen gt 'yesterday'" }, /'yesterday' is not a valid datetime/],
    ["ordering booleans", { $filter: "isAadJoined gt false" }, /'gt' cannot compare the boolean/],
    ["ordering against null", { $filter: "rbacGroupId lt null" }, /'lt' cannot compare with null/],
    ["an empty in list", { $filter: "id in ()" }, /expected a value, found '\)'/],
    ["a collection compared directly", { $filter: "machineTags eq 'x'" }, /'machineTags' is a collection/],
    [
      "a lambda other than any",
      { $filter: "machineTags/all(t: t eq 'x')" },
      /expected 'any' after 'machineTags\/', found 'all'/,
    ],
    [
      "a lambda without a variable",
      { $filter: "machineTags/any(t eq 'x')" },
      /expected ':' after the variable 't'/,
    ],
    [
      "an unclosed lambda",
      { $filter: "machineTags/any(t: t eq 'x'" },
      /missing '\)' to close machineTags\/any\(/,
    ],
    ["an unknown function", { $filter: "substringof('x',id)" }, /unknown function 'substringof'/],
    ["a string function on a number", { $filter: "startswith(rbacGroupId,'1')" }, /needs a string property/],
    [
      "a string function without a string",
      { $filter: "contains(id, 5)" },
      /contains needs a quoted string, found '5'/,
    ],
    ["an empty $filter", { $filter: "  " }, /\$filter: the expression is empty/],
    ["$top over the maximum", { $top: "10001" }, /\$top: 10001 is more than the maximum page size 10000/],
    ["a non-integer $top", { $top: "2.5" }, /\$top: expected a non-negative integer, got '2.5'/],
    ["a negative $skip", { $skip: "-1" }, /\$skip: expected a non-negative integer, got '-1'/],
    [
      "an $orderby direction typo",
      { $orderby: "id descending" },
      /\$orderby: expected 'property \[asc\|desc\]'/,
    ],
    ["an empty $orderby clause", { $orderby: "id," }, /\$orderby: expected 'property \[asc\|desc\]', got ''/],
    [
      "ordering by a collection",
      { $orderby: "machineTags" },
      /'machineTags' is a collection and cannot be ordered/,
    ],
    ["$expand", { $expand: "commands" }, /'\$expand' is not supported/],
    ["$select", { $select: "id" }, /'\$select' is not supported/],
    ["$search", { $search: "web" }, /'\$search' is not supported/],
    ["a repeated option", { $top: "1", $TOP: "2" }, /'\$top' is given more than once/],
    ["a $count that is not a boolean", { $count: "yes" }, /\$count: expected true or false/],
    ["a $format other than json", { $format: "xml" }, /\$format: only json is supported/],
  ])("rejects %s", (_name, params, message) => {
    const error = queryError(params);
    expect(error.code).toBe("ODataError");
    expect(error.message).toMatch(message);
  });
});
