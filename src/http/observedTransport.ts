import type { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import type { Transport, TransportSendOptions } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { JSONRPCMessage, MessageExtraInfo, RequestId } from "@modelcontextprotocol/sdk/types.js";
import type { ToolCallOutcome } from "./metrics.js";

export type ToolCallRecorder = (tool: string, outcome: ToolCallOutcome) => void;

/**
 * A session's transport as the McpServer sees it, with every tools/call counted by how it ended:
 * the server and the tools stay unaware of metrics, and a call is counted once, when it is answered
 * (or cancelled by the client).
 */
export class ObservedTransport implements Transport {
  onclose?: (() => void) | undefined;
  onerror?: ((error: Error) => void) | undefined;
  onmessage?: (<T extends JSONRPCMessage>(message: T, extra?: MessageExtraInfo) => void) | undefined;
  /** tools/call requests not answered yet: request id → tool name. */
  private readonly pending = new Map<RequestId, string>();

  constructor(
    readonly inner: StreamableHTTPServerTransport,
    private readonly record: ToolCallRecorder,
  ) {
    inner.onmessage = (message, extra) => {
      this.received(message);
      this.onmessage?.(message, extra);
    };
    inner.onclose = () => {
      this.pending.clear();
      this.onclose?.();
    };
    inner.onerror = (error) => this.onerror?.(error);
  }

  get sessionId(): string | undefined {
    return this.inner.sessionId;
  }

  start(): Promise<void> {
    return this.inner.start();
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    if ("id" in message && message.id !== undefined && ("result" in message || "error" in message)) {
      this.settle(message.id, outcomeOf(message));
    }
    await this.inner.send(message, options);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private received(message: JSONRPCMessage): void {
    if (!("method" in message)) return;
    if (message.method === "tools/call" && "id" in message) {
      const name = message.params?.name;
      this.pending.set(message.id, typeof name === "string" ? name : "unknown");
    } else if (message.method === "notifications/cancelled") {
      const id = message.params?.requestId;
      if (typeof id === "string" || typeof id === "number") this.settle(id, "cancelled");
    }
  }

  private settle(id: RequestId, outcome: ToolCallOutcome): void {
    const tool = this.pending.get(id);
    if (tool === undefined) return;
    this.pending.delete(id);
    this.record(tool, outcome);
  }
}

function outcomeOf(message: JSONRPCMessage): ToolCallOutcome {
  if ("error" in message) return "protocol_error";
  const result = "result" in message ? (message.result as Record<string, unknown>) : {};
  if (result.isError === true) return "error";
  return "task" in result ? "task" : "ok";
}
