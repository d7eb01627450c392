import { describe, expect, it } from "vitest";
import { parseDevicePath } from "../../src/policy/devicePath.js";

describe("parseDevicePath: GetFile paths as the policy judges them", () => {
  it.each([
    ["C:\\Windows\\Temp\\IR\\EventLogs.zip", "windows", "C:/Windows/Temp/IR/EventLogs.zip"],
    ["c:/windows/temp/x.log", "windows", "c:/windows/temp/x.log"],
    ["C:/Windows\\Temp/mixed.log", "windows", "C:/Windows/Temp/mixed.log"],
    [
      "C:\\Users\\asmith\\AppData\\Local\\Temp\\~WRS0001.tmp",
      "windows",
      "C:/Users/asmith/AppData/Local/Temp/~WRS0001.tmp",
    ],
    ["D:\\Shares\\Finance\\archive.vhdx", "windows", "D:/Shares/Finance/archive.vhdx"],
    ["/var/log/auth.log", "posix", "/var/log/auth.log"],
    ["/tmp/.x/kworker", "posix", "/tmp/.x/kworker"],
    [
      "/Users/kchen/Library/LaunchAgents/com.apple.softwareupdate.agent.plist",
      "posix",
      "/Users/kchen/Library/LaunchAgents/com.apple.softwareupdate.agent.plist",
    ],
  ])("accepts the plain absolute path %s", (raw, kind, normalized) => {
    expect(parseDevicePath(raw)).toEqual({ ok: true, path: { kind, normalized } });
  });

  it.each([
    ["\\\\fileserver\\share\\secrets.xlsx", /UNC path/],
    ["//fileserver/share/secrets.xlsx", /UNC path/],
    ["\\/fileserver\\share\\x", /UNC path/],
    ["\\\\.\\PhysicalDrive0", /device path/],
    ["\\\\?\\C:\\Windows\\System32\\config\\SAM", /device path/],
    ["//?/C:/Windows/System32/config/SAM", /device path/],
    ["\\\\.\\C:\\x.txt", /device path/],
    ["\\??\\C:\\Windows\\System32\\config\\SAM", /device path/],
    ["C:\\x.txt::$DATA", /alternate data stream/],
    ["C:\\x.txt:hidden", /alternate data stream/],
    ["C:\\Windows\\Temp:stream\\x", /alternate data stream/],
    ["C:\\a\\..\\b", /'\.\.' segment/],
    ["C:/Windows/Temp/../System32/config/SAM", /'\.\.' segment/],
    ["C:\\Windows\\Temp\\..", /'\.\.' segment/],
    ["/var/log/../../etc/shadow", /'\.\.' segment/],
    ["C:\\Windows\\.\\System32\\config\\SAM", /'\.' segment/],
    ["/etc/./shadow", /'\.' segment/],
    ["C:\\Windows\\\\System32\\config\\SAM", /empty segment/],
    ["C:\\Windows\\Temp\\", /empty segment/],
    ["//etc/shadow", /UNC path/],
    ["/etc//shadow", /empty segment/],
    ["C:\\Windows\\System32\\config\\SAM.", /ends with a dot or a space/],
    ["C:\\Windows\\System32\\config\\SAM ", /ends with a dot or a space/],
    ["C:\\PROGRA~1\\KeePass\\db.kdbx", /8\.3 short name/],
    ["C:\\Users\\ADMINI~1.CON\\x.txt", /8\.3 short name/],
    ["C:\\Windows\\Temp\\*.log", /wildcard/],
    ["C:\\Windows\\Temp\\a?.log", /wildcard/],
    ["C:\\Windows\\Temp\\a|b", /wildcard/],
    ["C:\\%USERPROFILE%\\x.txt", /environment variable/],
    ["C:\\Windows\\Temp\\x\u0000.log", /control characters/],
    ["C:\\Windows\\Temp\\x\n.log", /control characters/],
    ["Windows\\Temp\\x.log", /not an absolute path/],
    ["C:Windows\\x.log", /not an absolute path/],
    ["\\Windows\\System32\\config\\SAM", /not an absolute path/],
    ["/var/log\\x", /not an absolute path/],
    ["~/x", /not an absolute path/],
    ["", /not an absolute path/],
  ])("refuses %j outright", (raw, reason) => {
    const result = parseDevicePath(raw);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(reason);
  });
});
