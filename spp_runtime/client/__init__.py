"""The client side: secret-share inputs, submit jobs to the three servers, reconstruct results."""

from .client import Client, JobFailed, JobResult, ServerUnavailable

__all__ = ["Client", "JobFailed", "JobResult", "ServerUnavailable"]
