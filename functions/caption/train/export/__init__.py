"""Graphs that serve, made from what training and packages provide: the bundle's own
(`python -m caption.train.export bundle DIR`), a seed checkpoint converted
(`python -m caption.train.export seed SEED OUT`) and the COCO detector translated from its npm
package (`python -m caption.train.export.detector`)."""
