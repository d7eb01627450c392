import { describe, expect, it } from "vitest";
import { pageOutput } from "../../src/tools/outputPage.js";

describe("pageOutput", () => {
  it("returns a page and where the next one starts", () => {
    expect(pageOutput("abcdefghij", 0, 4)).toEqual({ text: "abcd", next: 4 });
    expect(pageOutput("abcdefghij", 4, 4)).toEqual({ text: "efgh", next: 8 });
  });

  it("ends with next null when the page reaches the end", () => {
    expect(pageOutput("abcdefghij", 8, 4)).toEqual({ text: "ij", next: null });
    expect(pageOutput("abc", 0, 3)).toEqual({ text: "abc", next: null });
    expect(pageOutput("abc", 3, 5)).toEqual({ text: "", next: null });
  });

  it("never splits a character made of two UTF-16 units, so the pages join back exactly", () => {
    const text = "ab😀cd😀";
    expect(pageOutput(text, 0, 3)).toEqual({ text: "ab", next: 2 });
    let offset: number | null = 0;
    const pages: string[] = [];
    while (offset !== null) {
      const page = pageOutput(text, offset, 3);
      expect(page.text).not.toMatch(/[\ud800-\udbff]$/);
      pages.push(page.text);
      offset = page.next;
    }
    expect(pages.join("")).toBe(text);
  });
});
