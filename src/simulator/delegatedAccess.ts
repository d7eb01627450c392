import { CANCEL_ROLES, type EndpointName } from "./endpoints.js";
import { UNGROUPED_DEVICES } from "./scenario.js";
import type { DelegatedUser } from "./tokenService.js";

/**
 * What a delegated (user) token may do. Permissions: the delegated column of reference §1.3, which
 * is not the application column renamed (the result link takes Machine.LiveResponse only). Devices:
 * Defender's RBAC gives a user the devices of their device groups only. The strict reading is
 * chosen where the pages are vague: a device outside the user's groups does not exist for them (404
 * ResourceNotFound, left out of lists), as do its actions, so a call neither acts on it nor learns
 * that it exists.
 */

const MACHINE_READ = ["Machine.Read", "Machine.ReadWrite"];

export const DELEGATED_PERMISSIONS: Record<EndpointName, readonly string[]> = {
  runliveresponse: ["Machine.LiveResponse"],
  getResultDownloadLink: ["Machine.LiveResponse"],
  cancelMachineAction: CANCEL_ROLES,
  getMachineAction: MACHINE_READ,
  listMachineActions: MACHINE_READ,
  getMachine: MACHINE_READ,
  listMachines: MACHINE_READ,
  listLibraryFiles: ["Library.Manage"],
  uploadLibraryFile: ["Library.Manage"],
  deleteLibraryFile: ["Library.Manage"],
};

/** Whether the user's device groups include a device's group (null: the device is in no group). */
export function userSeesGroup(user: DelegatedUser, rbacGroupName: string | null): boolean {
  if (user.deviceGroups === "all") return true;
  const group = (rbacGroupName ?? UNGROUPED_DEVICES).toLowerCase();
  return user.deviceGroups.some((g) => g.toLowerCase() === group);
}
