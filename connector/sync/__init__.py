"""Sync: target mappings, mapping check and provisioning, state, plan, push, lock and the scheduled job."""
