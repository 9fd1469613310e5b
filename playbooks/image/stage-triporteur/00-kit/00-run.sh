#!/bin/bash -e
# pi-gen runs this on the build machine, with ROOTFS_DIR the image's root filesystem (Raspberry Pi OS Lite
# from stage2). It applies playbooks/site.yml to that root through Ansible's chroot connection, exactly as
# `provision fleet apply` does over SSH, with kit_secrets_image_build=true: units are enabled, not started
# (no systemd runs in a chroot), and no secret is left in the image - each kit makes its own at first boot.
#
# Set in pi-gen's config (see playbooks/image/build-image.sh, which writes them):
#   TRIPORTEUR_CHECKOUT   this repository, with its .venv (ansible, ansible-runner)
#   TRIPORTEUR_INVENTORY  the fleet's inventory (its group_vars: the organisation's settings and keys)
#   TRIPORTEUR_KIT        optional: bake one kit's own settings (its host_vars); default: a generic kit
#   TRIPORTEUR_VAULT_PASSWORD_FILE  optional: opens the inventory's vault (no secret goes into the image)
: "${ROOTFS_DIR:?pi-gen sets ROOTFS_DIR}"
: "${TRIPORTEUR_CHECKOUT:?set TRIPORTEUR_CHECKOUT in pi-gen config}"
: "${TRIPORTEUR_INVENTORY:?set TRIPORTEUR_INVENTORY in pi-gen config}"

VENV="${TRIPORTEUR_CHECKOUT}/.venv/bin"
KIT="${TRIPORTEUR_KIT:-triporteur-image}"
WORK="$(mktemp -d)"
trap 'rm -rf "${WORK}"' EXIT

# The image's root as one more host of the `kits` group, reached through the chroot connection. When
# TRIPORTEUR_KIT names a kit of the inventory, its host_vars (SSID, data cap...) come along.
cat > "${WORK}/image.yml" <<INVENTORY
kits:
  hosts:
    ${KIT}:
      ansible_host: "${ROOTFS_DIR}"
      ansible_connection: community.general.chroot
      ansible_become: false
      ansible_python_interpreter: /usr/bin/python3
      kit_secrets_image_build: true
INVENTORY

vault=()
if [ -n "${TRIPORTEUR_VAULT_PASSWORD_FILE:-}" ]; then
	vault=(--vault-password-file "${TRIPORTEUR_VAULT_PASSWORD_FILE}")
fi

ANSIBLE_CONFIG="${TRIPORTEUR_CHECKOUT}/playbooks/ansible.cfg" \
	"${VENV}/python" "${TRIPORTEUR_CHECKOUT}/playbooks/image/chroot_run.py" --root "${ROOTFS_DIR}" -- \
	"${VENV}/ansible-playbook" -i "${TRIPORTEUR_INVENTORY}" -i "${WORK}/image.yml" --limit "${KIT}" \
	"${vault[@]}" "${TRIPORTEUR_CHECKOUT}/playbooks/site.yml"

# Ansible's scratch folder in the image's root home.
rm -rf "${ROOTFS_DIR}/root/.ansible"
