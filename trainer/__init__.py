"""Fine-tuning and evaluation from exported snapshots; never the live database.

`python -m trainer finetune` trains a LoRA adapter (or every weight) with TRL on a snapshot's train split;
`python -m trainer evaluate` scores a model, or a base against its fine-tune, on the validation split.
torch, transformers, trl and peft are imported only by the functions that use them. The imports from the
rest of the project: `generators.sandbox`, to run model-written code for pass@k in the same isolation as
generation does, and `generators.model`, to find (converting it once) the packaged default model.
"""
