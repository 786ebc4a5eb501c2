<#
.SYNOPSIS
  Registers the foi-sync scheduled task (Windows Task Scheduler) from foi-sync-task.xml.

.DESCRIPTION
  Fills in the service account, the foi-sync executable, the config file and the log folder, checks the config with
  `foi-sync doctor`, then registers the task. JSON log lines are appended to <LogDir>\foi-sync.jsonl; the task's
  "Last Run Result" shows foi-sync's exit code (connector/errors.py, README "Exit codes": 0 ok, 1 dead letters or
  a failed step, 2 config/mapping/input error, 3 another run holds the lock, 4 CRM or sign-in unreachable or access
  refused, 5 unexpected failure).

  The client secret is never passed on the command line: put it in a file only the service account can read and
  name it in the config (dataverse.client_secret_file), or set FOI_SYNC_DATAVERSE__CLIENT_SECRET as a machine-level
  environment variable readable by that account.

.EXAMPLE
  .\install-foi-sync-task.ps1 -Account 'COUNCIL\svc-foisync' -InstallDir 'C:\foi-sync' -Config 'C:\foi-sync\foi-sync.toml'
#>
[CmdletBinding(SupportsShouldProcess)]
param(
    [Parameter(Mandatory)] [string] $Account,
    [string] $InstallDir = 'C:\foi-sync',
    [string] $Config = (Join-Path $InstallDir 'foi-sync.toml'),
    [string] $LogDir = (Join-Path $InstallDir 'var\logs'),
    [string] $TaskName = 'foi-sync',
    [switch] $SkipDoctor
)
$ErrorActionPreference = 'Stop'

$exe = Join-Path $InstallDir '.venv\Scripts\foi-sync.exe'
if (-not (Test-Path $exe)) {
    throw ("foi-sync is not installed at $exe. Copy the repository to $InstallDir, then: py -3 -m venv $InstallDir\.venv; " +
        "$InstallDir\.venv\Scripts\python -m pip install -e $InstallDir  (README, 'Scheduling on Windows')")
}
if (-not (Test-Path $Config)) { throw "config file $Config not found; copy config.example.toml there and edit it" }
New-Item -ItemType Directory -Force -Path $LogDir | Out-Null

# Only the service account (and administrators) may read the folder that holds the state file and logs.
$acl = Get-Acl $LogDir
$acl.SetAccessRuleProtection($true, $false)
foreach ($who in @($Account, 'BUILTIN\Administrators', 'NT AUTHORITY\SYSTEM')) {
    $rule = New-Object System.Security.AccessControl.FileSystemAccessRule($who, 'FullControl', 'ContainerInherit,ObjectInherit', 'None', 'Allow')
    $acl.AddAccessRule($rule)
}
Set-Acl -Path $LogDir -AclObject $acl

if (-not $SkipDoctor) {
    & $exe --config $Config doctor
    if ($LASTEXITCODE -ne 0) { throw "foi-sync doctor failed (exit $LASTEXITCODE): fix what it says, or pass -SkipDoctor" }
}

$template = Join-Path $PSScriptRoot 'foi-sync-task.xml'
$xml = Get-Content -Raw -Path $template
$xml = $xml.Replace('__ACCOUNT__', [Security.SecurityElement]::Escape($Account))
$xml = $xml.Replace('__FOISYNC__', [Security.SecurityElement]::Escape($exe))
$xml = $xml.Replace('__CONFIG__', [Security.SecurityElement]::Escape($Config))
$xml = $xml.Replace('__LOGDIR__', [Security.SecurityElement]::Escape($LogDir))
$xml = $xml.Replace('__WORKDIR__', [Security.SecurityElement]::Escape($InstallDir))

$cred = Get-Credential -UserName $Account -Message "Password for $Account (stored by Task Scheduler to run the job)"
if ($PSCmdlet.ShouldProcess($TaskName, 'Register scheduled task')) {
    Register-ScheduledTask -TaskName $TaskName -Xml $xml -User $Account -Password $cred.GetNetworkCredential().Password -Force | Out-Null
    Write-Host "Registered task '$TaskName'. Run it now with: Start-ScheduledTask -TaskName '$TaskName'"
    Write-Host "Logs: $LogDir\foi-sync.jsonl   Last exit code: (Get-ScheduledTaskInfo -TaskName '$TaskName').LastTaskResult"
}
