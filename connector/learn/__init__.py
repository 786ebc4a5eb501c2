"""Learned models: time to respond and routing, trained from the CRM's history (connector/sync/learning.py reads it).

Each model is judged on held-back cases against a plain baseline and used only when it beats it; model files are
JSON with versioned metadata (connector/learn/model_file.py), never pickle.
"""
