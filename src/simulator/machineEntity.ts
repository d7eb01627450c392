import { z } from "zod";
import { scaleMs } from "../config/time.js";
import { seedFrom } from "./deterministicFiller.js";
import { actionTimestamp } from "./machineActionEntity.js";
import type { Device } from "./scenario.js";

/** A Machine as GET /api/machines returns it (reference §3.10), fields in the documented sample's order. */
export const MachineEntitySchema = z.object({
  id: z.string(),
  computerDnsName: z.string(),
  firstSeen: z.string(),
  lastSeen: z.string(),
  osPlatform: z.string(),
  osVersion: z.string().nullable(),
  osProcessor: z.string(),
  version: z.string().nullable(),
  lastIpAddress: z.string().nullable(),
  lastExternalIpAddress: z.string().nullable(),
  agentVersion: z.string().nullable(),
  osBuild: z.number().int().nullable(),
  healthStatus: z.string(),
  deviceValue: z.string(),
  rbacGroupId: z.number().int().nullable(),
  rbacGroupName: z.string().nullable(),
  riskScore: z.string(),
  exposureLevel: z.string(),
  isAadJoined: z.boolean(),
  aadDeviceId: z.string().nullable(),
  machineTags: z.array(z.string()),
  onboardingStatus: z.string(),
});
export type MachineEntity = z.infer<typeof MachineEntitySchema>;

const HOUR_MS = 3600 * 1000;
const DAY_MS = 24 * HOUR_MS;

/**
 * When a device is reachable, in clock milliseconds: the scenario's start for an online device,
 * never for an offline one, and the scaled delay after the start for one that comes online later.
 */
export function deviceOnlineAt(device: Device, originMs: number, timeScale: number): number {
  if (device.availability === "online") return originMs;
  if (device.availability === "offline") return Number.POSITIVE_INFINITY;
  return originMs + scaleMs(device.availability.onlineAfterSeconds * 1000, timeScale);
}

export function toMachineEntity(
  device: Device,
  nowMs: number,
  originMs: number,
  onlineAtMs: number,
): MachineEntity {
  const online = nowMs >= onlineAtMs;
  // An offline device was last seen before the simulator started: a laptop that went to sleep a
  // couple of hours ago if it comes back, a retired one over a week ago if it never does.
  const lastSeenMs = online ? nowMs : originMs - (Number.isFinite(onlineAtMs) ? 2 * HOUR_MS : 9 * DAY_MS);
  const firstSeenMs = originMs - (120 + (seedFrom(device.id) % 400)) * DAY_MS;
  return {
    id: device.id,
    computerDnsName: device.computerDnsName,
    firstSeen: actionTimestamp(firstSeenMs),
    lastSeen: actionTimestamp(lastSeenMs),
    osPlatform: device.osPlatform,
    osVersion: device.osVersion,
    osProcessor: "x64",
    version: device.version,
    lastIpAddress: device.lastIpAddress,
    lastExternalIpAddress: device.lastExternalIpAddress,
    agentVersion: device.agentVersion,
    osBuild: device.osBuild,
    healthStatus: online ? device.healthStatus : "Inactive",
    deviceValue: device.deviceValue,
    rbacGroupId: device.rbacGroupId,
    rbacGroupName: device.rbacGroupName,
    riskScore: device.riskScore,
    exposureLevel: device.exposureLevel,
    isAadJoined: device.isAadJoined,
    aadDeviceId: device.aadDeviceId,
    machineTags: [...device.machineTags],
    onboardingStatus: device.onboardingStatus,
  };
}
