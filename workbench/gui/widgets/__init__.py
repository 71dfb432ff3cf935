"""Reusable views: the DataFrame table model, the curve plot, the confusion matrix, bars."""
