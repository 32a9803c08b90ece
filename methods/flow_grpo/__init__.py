"""Flow-GRPO: online RL for flow models with the VLM's P(Yes) as reward."""

from methods.flow_grpo.method import FlowGRPO

__all__ = ["FlowGRPO"]
