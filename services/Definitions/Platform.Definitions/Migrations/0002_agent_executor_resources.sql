-- An agent may name the executor kind its jobs need (empty: chosen from whether it has an image) and the resources a
-- job may use (Kubernetes quantities: {"CpuRequest": "500m", "MemoryLimit": "256Mi", ...}).
ALTER TABLE definitions.agents
    ADD COLUMN executor  text NOT NULL DEFAULT '',
    ADD COLUMN resources jsonb NOT NULL DEFAULT '{}';
