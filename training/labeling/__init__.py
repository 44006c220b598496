"""Teacher labeling: prompts, few-shot examples, the answer cache and the teachers themselves."""
