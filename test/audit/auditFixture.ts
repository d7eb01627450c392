import type { AuditRecord } from "../../src/audit/auditRecord.js";

/** One request's records, each kind once, as the tools will write them. */
export const WHO = { client_name: "claude-code", client_version: "2.1.0" };
const REQUEST_ID = "req-7f3a";
const ACTION_ID = "7c8e5a1b-2f4d-4e6a-9b0c-1d2e3f4a5b6c";
const MACHINE_ID = "9d663375e3e46799a6657b0c0c74b873c9fcd069";
const PAYLOAD = "ab".repeat(32);

export const RECORDS: AuditRecord[] = [
  {
    kind: "request",
    request_id: REQUEST_ID,
    who: WHO,
    why: "IR-2291: triage of fin-ws-0142",
    tool: "run_live_response",
    machines: [{ id: MACHINE_ID, name: "fin-ws-0142.contoso.com" }],
    commands: [
      { type: "RunScript", script_name: "Get-RecentFiles.ps1", args: "-Days 7" },
      { type: "GetFile", path: "C:\\Windows\\Temp\\IR\\EventLogs.zip" },
    ],
  },
  {
    kind: "policy_decision",
    request_id: REQUEST_ID,
    outcome: "approval",
    rule: "approval.device_tags",
    reason: 'The policy requires a person\'s approval for devices tagged "VIP".',
    policy_sha256: "cd".repeat(32),
  },
  { kind: "approval_requested", request_id: REQUEST_ID, payload_sha256: PAYLOAD },
  { kind: "approval_given", request_id: REQUEST_ID, payload_sha256: PAYLOAD },
  {
    kind: "submitted",
    request_id: REQUEST_ID,
    action_id: ACTION_ID,
    machine_id: MACHINE_ID,
    correlation_tag: "mcp:req-7f3a",
  },
  {
    kind: "final_status",
    request_id: REQUEST_ID,
    action_id: ACTION_ID,
    machine_id: MACHINE_ID,
    status: "Succeeded",
  },
  {
    kind: "result_fetched",
    request_id: REQUEST_ID,
    action_id: ACTION_ID,
    command_index: 1,
    artifacts: [{ name: "EventLogs.zip", sha256: "ef".repeat(32), bytes: 2_516_582 }],
  },
  { kind: "cancel", request_id: "req-8000", who: WHO, action_id: ACTION_ID, status: "Succeeded" },
  {
    kind: "approval_refused",
    request_id: "req-8001",
    who: WHO,
    why: "remediate",
    payload_sha256: PAYLOAD,
    response: "decline",
  },
];

/** A fixed clock, one second per call: records are reproducible. */
export function steppingClock(start = Date.UTC(2026, 0, 14, 9, 30)): () => Date {
  let t = start;
  return () => new Date((t += 1000));
}
