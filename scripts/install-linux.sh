#!/usr/bin/env bash
# Install foi-sync as a scheduled service on Debian/Ubuntu (README, "Installing as a service").
#
#   sudo FOI_SYNC_DATAVERSE__CLIENT_SECRET=... bash scripts/install-linux.sh \
#       --url https://yourcouncil.crm11.dynamics.com --tenant-id yourcouncil.onmicrosoft.com --client-id GUID
#   sudo bash scripts/install-linux.sh --uninstall            # units, code and venv; keeps config, secret and data
#   sudo bash scripts/install-linux.sh --uninstall --purge    # also /etc/foi-sync, the data and the service user
# Other options: --prefix DIR (install folder), --user NAME [--group NAME], --authority-host URL and --ca-bundle PEM
# (a private CA, copied to /etc/foi-sync/ca-bundle.pem), --secret-file FILE, --python PATH, --no-doctor, --root DIR.
#
# What it does, each step safe to repeat (an existing config and secret are kept; code and venv are refreshed):
#   1. creates the unprivileged system user (default foi-sync) if it does not exist;
#   2. copies the code to the install folder (default /opt/foi-sync) and makes its own venv there (.venv) from the
#      system python3 (never installing into the system interpreter);
#   3. writes /etc/foi-sync/foi-sync.toml with absolute paths, and the client secret to /etc/foi-sync/client-secret,
#      readable by the service user only (the secret is read from FOI_SYNC_DATAVERSE__CLIENT_SECRET, --secret-file
#      or a prompt; never from the command line);
#   4. installs foi-sync.service and foi-sync.timer and enables the timer;
#   5. runs `foi-sync doctor` as the service user and shows what it found.
# --root DIR puts everything (install folder, /etc, units) under DIR: a rehearsal or a test, no system touched
# beyond the user account.
set -euo pipefail

SRC="$(cd "$(dirname "$0")/.." && pwd)"
ROOT=/
PREFIX=/opt/foi-sync
SERVICE_USER=foi-sync
SERVICE_GROUP=""
URL=""
TENANT_ID=""
CLIENT_ID=""
AUTHORITY_HOST=""
CA_BUNDLE=""
SECRET_FILE=""
UNINSTALL=0
PURGE=0
DOCTOR=1
PY="${FOI_SYNC_PYTHON:-}"

usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; }
note() { echo "install-linux: $*"; }
fail() {
    echo "install-linux: error: $*" >&2
    exit 2
}

while [ $# -gt 0 ]; do
    case "$1" in
        --root) ROOT="$2"; shift 2 ;;
        --prefix) PREFIX="$2"; shift 2 ;;
        --user) SERVICE_USER="$2"; shift 2 ;;
        --group) SERVICE_GROUP="$2"; shift 2 ;;
        --url) URL="$2"; shift 2 ;;
        --tenant-id) TENANT_ID="$2"; shift 2 ;;
        --client-id) CLIENT_ID="$2"; shift 2 ;;
        --authority-host) AUTHORITY_HOST="$2"; shift 2 ;;
        --ca-bundle) CA_BUNDLE="$2"; shift 2 ;;
        --secret-file) SECRET_FILE="$2"; shift 2 ;;
        --python) PY="$2"; shift 2 ;;
        --no-doctor) DOCTOR=0; shift ;;
        --uninstall) UNINSTALL=1; shift ;;
        --purge) PURGE=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) fail "unknown option '$1'; see --help" ;;
    esac
done

[ "$(id -u)" = "0" ] || fail "run it as root (sudo): it creates a system user, /etc/foi-sync and systemd units"
case "$PREFIX" in /*) ;; *) fail "--prefix must be an absolute path (got '$PREFIX')" ;; esac
ROOT="$(cd "$ROOT" 2>/dev/null && pwd)" || fail "--root folder does not exist"
R="${ROOT%/}"                      # "" for the real system
INSTALL="$R$PREFIX"                # where the code, venv and data go
ETC="$R/etc/foi-sync"
UNITS="$R/etc/systemd/system"
CONFIG="$ETC/foi-sync.toml"
SECRET="$ETC/client-secret"

systemd_running() { [ -z "$R" ] && [ -d /run/systemd/system ]; }
systemctl_() {
    # Offline (--root) or without a running systemd, systemctl still enables units by writing their symlinks.
    if [ -n "$R" ]; then systemctl --root="$ROOT" "$@"; else systemctl "$@"; fi
}

# ------------------------------------------------------------------------------------------------ uninstall
if [ "$UNINSTALL" = 1 ]; then
    if systemd_running; then systemctl disable --now foi-sync.timer foi-sync.service 2>/dev/null || true
    else systemctl_ disable foi-sync.timer foi-sync.service 2>/dev/null || true; fi
    rm -f "$UNITS/foi-sync.service" "$UNITS/foi-sync.timer"
    systemd_running && systemctl daemon-reload
    if [ -d "$INSTALL" ]; then
        find "$INSTALL" -mindepth 1 -maxdepth 1 ! -name var -exec rm -rf {} +
    fi
    if [ "$PURGE" = 1 ]; then
        rm -rf "$INSTALL" "$ETC"
        if [ -z "$R" ] && id -u "$SERVICE_USER" >/dev/null 2>&1; then userdel "$SERVICE_USER" || true; fi
        note "removed foi-sync, its config, secret, data and user"
    else
        note "removed the units, code and venv; kept $ETC and $INSTALL/var (add --purge to remove them too)"
    fi
    exit 0
fi

# ------------------------------------------------------------------------------------------------ 1. user
if ! id -u "$SERVICE_USER" >/dev/null 2>&1; then
    note "creating the system user $SERVICE_USER"
    useradd --system --user-group --home-dir "$PREFIX" --no-create-home --shell /usr/sbin/nologin "$SERVICE_USER"
    id -u "$SERVICE_USER" >/dev/null 2>&1 || fail "useradd did not create $SERVICE_USER"
fi
[ "$(id -u "$SERVICE_USER")" != "0" ] || fail "--user $SERVICE_USER is root; the job runs unprivileged"
GROUP="${SERVICE_GROUP:-$(id -gn "$SERVICE_USER")}"

# ------------------------------------------------------------------------------------------------ 2. code and venv
if [ -z "$PY" ]; then
    if [ -x /usr/bin/python3 ]; then PY=/usr/bin/python3; else PY="$(command -v python3 || true)"; fi
fi
[ -n "$PY" ] || fail "no python3; install it (apt-get install python3 python3-venv)"
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || fail "$PY is older than Python 3.11"
if ! "$PY" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    pkg="python$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')-venv"
    command -v apt-get >/dev/null 2>&1 || fail "$PY cannot make a virtual environment; install $pkg"
    note "installing Debian's $pkg"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null
fi

install -d -m 0755 -o root -g root "$INSTALL"
if [ "$SRC" != "$INSTALL" ]; then
    note "copying foi-sync from $SRC to $INSTALL"
    tar -C "$SRC" --exclude=./.venv --exclude=./var --exclude=./.git --exclude=./tests --exclude='*/__pycache__' \
        --exclude=./node_modules --exclude='./*.egg-info' --exclude=./foi-sync.toml -cf - . | tar -C "$INSTALL" -xf -
    chown -R root:root "$INSTALL"
fi
if [ -e "$INSTALL/.venv" ] && ! "$INSTALL/.venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
    rm -rf "$INSTALL/.venv"
fi
[ -e "$INSTALL/.venv" ] || { note "making the virtual environment $INSTALL/.venv with $PY"; "$PY" -m venv "$INSTALL/.venv"; }
note "installing foi-sync into $INSTALL/.venv"
# Editable from the install folder: the shipped mappings/ and templates/ stay beside the package (connector/paths.py).
"$INSTALL/.venv/bin/python" -m pip install -q -e "$INSTALL"
install -d -m 0700 -o "$SERVICE_USER" -g "$GROUP" "$INSTALL/var"

# ------------------------------------------------------------------------------------------------ 3. config, secret
install -d -m 0750 -o root -g "$GROUP" "$ETC"
if [ -e "$CONFIG" ]; then
    note "keeping the existing $CONFIG"
else
    [ -n "$URL" ] || fail "--url is needed for a first install (the Dataverse environment URL)"
    [ -n "$TENANT_ID" ] || fail "--tenant-id is needed for a first install"
    [ -n "$CLIENT_ID" ] || fail "--client-id is needed for a first install (the app registration's id)"
    note "writing $CONFIG"
    tmp="$(mktemp)"
    {
        echo "# foi-sync configuration, written by scripts/install-linux.sh. Every key: $PREFIX/config.example.toml."
        echo "# Paths are absolute. Re-running the installer keeps this file; edit it freely."
        echo "[dataverse]"
        echo "url = \"$URL\""
        echo "tenant_id = \"$TENANT_ID\""
        echo "client_id = \"$CLIENT_ID\""
        echo "# The secret: this file, readable by $SERVICE_USER only (never the secret itself in this file)."
        echo "client_secret_file = \"$SECRET\""
        [ -z "$AUTHORITY_HOST" ] || echo "authority_host = \"$AUTHORITY_HOST\""
        [ -z "$CA_BUNDLE" ] || echo "ca_bundle = \"$ETC/ca-bundle.pem\""
        echo
        echo "[deadlines]"
        echo "holiday_overrides = \"$INSTALL/mappings/holiday-overrides.toml\""
        echo
        echo "[intake]"
        echo "rules = \"$INSTALL/mappings/routing-rules.toml\""
        echo "triage_rules = \"$INSTALL/mappings/triage-rules.toml\""
        echo "team_calendars = \"$INSTALL/mappings/team-calendars.toml\""
        echo "rejects_dir = \"$INSTALL/var/rejects\""
        echo "# Add one block per register, drop folder or mailbox (README, \"Intake\"), e.g.:"
        echo "# [[intake.sources]]"
        echo "# name = \"foi-log\""
        echo "# kind = \"csv\""
        echo "# path = \"/srv/foi/foi-log.csv\""
        echo "# mapping = \"$INSTALL/mappings/source-sample-register.toml\""
        echo
        echo "[sync]"
        echo "target_mapping = \"$INSTALL/mappings/target-incident.toml\""
        echo "state_path = \"$INSTALL/var/foi-sync-state.sqlite\""
        echo
        echo "[report]"
        echo "out_dir = \"$INSTALL/var/reports\""
        echo "store_path = \"$INSTALL/var/reporting.sqlite\""
        echo
        echo "[logging]"
        echo "format = \"json\""
    } >"$tmp"
    install -m 0640 -o root -g "$GROUP" "$tmp" "$CONFIG"
    rm -f "$tmp"
fi

if [ -n "$CA_BUNDLE" ]; then
    # A private CA (a proxy's, or the sandbox's): copied where the service account can read it.
    install -m 0644 -o root -g root "$CA_BUNDLE" "$ETC/ca-bundle.pem"
fi

secret_value=""
if [ -n "$SECRET_FILE" ]; then
    [ -r "$SECRET_FILE" ] || fail "--secret-file $SECRET_FILE cannot be read"
    secret_value="$(cat "$SECRET_FILE")"
elif [ -n "${FOI_SYNC_DATAVERSE__CLIENT_SECRET:-}" ]; then
    secret_value="$FOI_SYNC_DATAVERSE__CLIENT_SECRET"
elif [ ! -e "$SECRET" ] && [ -t 0 ]; then
    read -r -s -p "Client secret of the app registration (not echoed): " secret_value
    echo
fi
if [ -n "$secret_value" ]; then
    note "writing the client secret to $SECRET (mode 0400, owner $SERVICE_USER)"
    (umask 077 && printf '%s\n' "$secret_value" >"$SECRET.new")
    chown "$SERVICE_USER:$GROUP" "$SECRET.new"
    chmod 0400 "$SECRET.new"
    mv -f "$SECRET.new" "$SECRET"
elif [ -e "$SECRET" ]; then
    chown "$SERVICE_USER:$GROUP" "$SECRET" && chmod 0400 "$SECRET"
    note "keeping the existing $SECRET"
else
    note "no client secret given: write it to $SECRET (owner $SERVICE_USER, mode 0400) before the first run"
fi
unset secret_value

# ------------------------------------------------------------------------------------------------ 4. systemd
install -d -m 0755 "$UNITS"
for unit in foi-sync.service foi-sync.timer; do
    sed -e "s#/opt/foi-sync#$INSTALL#g" -e "s#/etc/foi-sync#$ETC#g" \
        -e "s#^User=.*#User=$SERVICE_USER#" -e "s#^Group=.*#Group=$GROUP#" \
        "$INSTALL/scripts/systemd/$unit" >"$UNITS/$unit.new"
    chmod 0644 "$UNITS/$unit.new"
    mv -f "$UNITS/$unit.new" "$UNITS/$unit"
done
if systemd_running; then
    systemctl daemon-reload
    systemctl enable --now foi-sync.timer
    note "timer enabled; next run: systemctl list-timers foi-sync.timer"
else
    systemctl_ enable foi-sync.timer
    note "timer enabled (systemd is not running here, so it starts at the next boot)"
fi

# ------------------------------------------------------------------------------------------------ 5. doctor
if [ "$DOCTOR" = 1 ]; then
    note "foi-sync doctor, as $SERVICE_USER:"
    set +e
    (cd "$INSTALL" && runuser -u "$SERVICE_USER" -- "$INSTALL/.venv/bin/foi-sync" --config "$CONFIG" \
        --log-format text doctor)
    rc=$?
    set -e
    if [ "$rc" = 0 ]; then
        note "installed; the first scheduled run is on its way"
    else
        note "installed, but doctor exited $rc: fix what it says (then: $INSTALL/.venv/bin/foi-sync --config $CONFIG doctor)"
    fi
fi
