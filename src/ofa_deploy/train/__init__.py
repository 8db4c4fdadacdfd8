"""Progressive-shrinking training, knowledge distillation, BN recalibration, evaluation."""

from .bn import recalibrate_bn
from .evaluate import calibrated_subnet, evaluate_arch, top1
from .recipe import Phase, Recipe, load_recipe, recipe_names

__all__ = ["Phase", "Recipe", "calibrated_subnet", "evaluate_arch", "load_recipe", "recalibrate_bn",
           "recipe_names", "top1"]
