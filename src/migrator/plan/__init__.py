"""Plans: the YAML format, its models, loading with precise errors, and linting."""

from migrator.plan.loader import check_plan, load_plan, load_plan_text
from migrator.plan.model import Plan, Transition

__all__ = ["Plan", "Transition", "check_plan", "load_plan", "load_plan_text"]
