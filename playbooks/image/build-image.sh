#!/bin/bash -e
# Bake a Raspberry Pi OS Lite SD-card image that already holds the kit, with pi-gen and this repository's
# custom stage (playbooks/image/stage-triporteur). Run as root on Debian 12 or 13 (or Raspberry Pi OS) with
# pi-gen's dependencies installed (see pi-gen's README: `apt-get install coreutils quilt parted
# qemu-user-static debootstrap zerofree zip dosfstools libarchive-tools libcap2-bin grep rsync xz-utils
# file git curl bc gpg pigz xxd arch-test`).
#
#   [TRIPORTEUR_RELEASE=trixie|bookworm] playbooks/image/build-image.sh PI_GEN_DIR INVENTORY [KIT]
#
# PI_GEN_DIR  a checkout of https://github.com/RPi-Distro/pi-gen of the same release: branch `arm64` for
#             trixie (64-bit), `bookworm-arm64` for bookworm
# INVENTORY   the fleet's inventory folder (organisation settings, tech leads' keys, vault)
# KIT         optional: one kit of the inventory, to bake its own settings; default: a generic image
# TRIPORTEUR_RELEASE  the Debian release of the image: trixie (default: today's Raspberry Pi OS) or bookworm
#             (to match kits already in the field)
# TRIPORTEUR_VAULT_PASSWORD_FILE in the environment opens the vault (nothing secret goes into the image).
#
# The image lands in PI_GEN_DIR/deploy/. Flash it as the README's tech lead's guide says.
if [ "$#" -lt 2 ]; then
	sed -n '2,20p' "$0" >&2
	exit 2
fi
PI_GEN="$(realpath "$1")"
INVENTORY="$(realpath "$2")"
KIT="${3:-}"
RELEASE="${TRIPORTEUR_RELEASE:-trixie}"
CHECKOUT="$(realpath "$(dirname "$0")/../..")"
STAGE="${CHECKOUT}/playbooks/image/stage-triporteur"

case "${RELEASE}" in
	trixie | bookworm) ;;
	*) echo "TRIPORTEUR_RELEASE=${RELEASE}: the kit supports trixie (Debian 13) or bookworm (Debian 12)" >&2; exit 2 ;;
esac
[ -x "${PI_GEN}/build.sh" ] || { echo "no pi-gen at ${PI_GEN}" >&2; exit 2; }
# Each pi-gen branch carries the package lists of one release: another release's image would fail late, in
# stage0, or boot with mismatched firmware. Its build.sh names the release it was made for.
BRANCH_RELEASE="$(sed -n 's/.*RELEASE=\${RELEASE:-\([a-z]*\)}.*/\1/p' "${PI_GEN}/build.sh" | head -n 1)"
if [ -n "${BRANCH_RELEASE}" ] && [ "${BRANCH_RELEASE}" != "${RELEASE}" ]; then
	echo "pi-gen at ${PI_GEN} builds ${BRANCH_RELEASE}, not ${RELEASE}: check out its branch for ${RELEASE}" \
		"(trixie: arm64, bookworm: bookworm-arm64) or set TRIPORTEUR_RELEASE=${BRANCH_RELEASE}" >&2
	exit 2
fi
[ -d "${INVENTORY}" ] || { echo "no inventory at ${INVENTORY}" >&2; exit 2; }
[ -x "${CHECKOUT}/.venv/bin/ansible-playbook" ] || {
	echo "install Ansible first: ${CHECKOUT}/.venv/bin/pip install ansible ansible-runner" >&2; exit 2; }
ADMIN="$(cd "${CHECKOUT}/playbooks" && "${CHECKOUT}/.venv/bin/ansible" -i "${INVENTORY}" localhost -m debug \
	-a 'msg={{ hostvars[groups.kits[0]].kit_base_admin_user | default("triporteur") }}' ${TRIPORTEUR_VAULT_PASSWORD_FILE:+--vault-password-file "${TRIPORTEUR_VAULT_PASSWORD_FILE}"} 2>/dev/null \
	| sed -n 's/.*"msg": "\(.*\)".*/\1/p')"

# stage2 is Raspberry Pi OS Lite; only the kit's stage exports an image.
touch "${PI_GEN}/stage2/SKIP_IMAGES"
cat > "${PI_GEN}/config" <<CONFIG
IMG_NAME=triporteur
RELEASE=${RELEASE}
STAGE_LIST="stage0 stage1 stage2 ${STAGE}"
DEPLOY_COMPRESSION=xz
TARGET_HOSTNAME=${KIT:-triporteur}
FIRST_USER_NAME=${ADMIN:-triporteur}
DISABLE_FIRST_BOOT_USER_RENAME=1
ENABLE_SSH=1
PUBKEY_ONLY_SSH=1
LOCALE_DEFAULT=fr_FR.UTF-8
KEYBOARD_KEYMAP=fr
KEYBOARD_LAYOUT="French"
TIMEZONE_DEFAULT=Europe/Paris
WPA_COUNTRY=FR
export TRIPORTEUR_CHECKOUT="${CHECKOUT}"
export TRIPORTEUR_INVENTORY="${INVENTORY}"
export TRIPORTEUR_KIT="${KIT}"
export TRIPORTEUR_VAULT_PASSWORD_FILE="${TRIPORTEUR_VAULT_PASSWORD_FILE:-}"
CONFIG
cd "${PI_GEN}"
exec ./build.sh
