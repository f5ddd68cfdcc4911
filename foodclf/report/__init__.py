"""Stage 8, the comparison: criteria, Pareto sets, recommendations, the report and its plots."""
