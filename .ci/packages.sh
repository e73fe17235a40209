# SPDX-License-Identifier: MIT
# The one list of Debian 12 packages veilfs needs, by group, and the one
# function that installs the missing ones. Sourced (bash) by run.sh (build),
# tests/run-all.sh and .ci/run (build + test); the bench group is what
# bench/run.sh measures against. Add a package here, never in those scripts.

# build: compile veilfs and mount a volume (run.sh)
veil_pkgs_build=(
	meson ninja-build pkg-config gcc libc6-dev    # build
	libsodium-dev libfuse3-dev fuse3             # libraries, fusermount3
)

# test: everything tests/run-all.sh runs besides the build group
veil_pkgs_test=(
	clang libclang-rt-14-dev                     # fuzz harnesses (libFuzzer; its runtime is only recommended by clang)
	python3                                      # integration/reverse tests, header surgery, summary
	git sqlite3 rsync attr acl util-linux file   # integration tests' tools
	rclone                                       # reverse-mode cloud round trip (WebDAV on 127.0.0.1)
	debootstrap                                  # tests/fresh-debian.sh (not run by run-all.sh)
	libaio-dev                                   # integration-aio-stale (O_DIRECT writes with libaio)
	strace                                       # cli-rekey: which directories rekey fsyncs
	syncthing restic sshfs openssh-server        # tests/sync: real sync and backup engines on 127.0.0.1
	systemd                                      # install-destdir: systemd-analyze verify of the unit
	man-db                                       # install-destdir: man -w, and verify runs man for the unit's Documentation=
	pass gnupg                                   # integration-pass: the pass recipe with a throwaway key
	gnome-keyring libsecret-tools dbus-daemon    # integration-secret-tool: a headless keyring, secret-tool
	zsh                                          # install-destdir: the zsh completion loads and completes
	dpkg-dev debhelper lintian build-essential   # package-deb: dpkg-buildpackage (dh, meson; it checks build-essential) and lintian
	ca-certificates
)

# bench: bench/run.sh and its peers (a peer that is missing is reported and skipped)
veil_pkgs_bench=(
	fio python3 bindfs gocryptfs securefs
	linux-perf                                   # bench/profile.sh
)

# veil_pkgs_missing GROUP...: print the packages of the groups that are not
# installed, space-separated, on one line (empty when none).
veil_pkgs_missing() {
	local g p missing=()
	for g in "$@"; do
		local -n list=veil_pkgs_$g
		for p in "${list[@]}"; do
			dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
				missing+=("$p")
		done
	done
	echo "${missing[*]}"
}

# veil_pkgs_ensure WHO GROUP...: install the missing packages of the groups
# with apt-get, as root or through sudo (sudo may ask for the password on a
# terminal). When that is impossible, print one line naming the missing
# packages and the command that installs them, and return 1.
veil_pkgs_ensure() {
	local who=$1 sudo=()
	shift
	local missing
	missing=$(veil_pkgs_missing "$@")
	[ -n "$missing" ] || return 0
	if [ "$(id -u)" != 0 ]; then
		if ! command -v sudo >/dev/null 2>&1 ||
			{ ! [ -t 0 ] && ! sudo -n true 2>/dev/null; }; then
			echo "$who: missing Debian packages: $missing; install them with: sudo apt-get install -y --no-install-recommends $missing" >&2
			return 1
		fi
		sudo=(sudo)
	fi
	echo "$who: installing $missing" >&2
	# shellcheck disable=SC2086
	"${sudo[@]}" apt-get update &&
		"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y --no-install-recommends $missing || {
		echo "$who: could not install: $missing" >&2
		return 1
	}
}
