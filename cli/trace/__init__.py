"""`nbengine trace ...`: one small module per trace (rnn and lstm, which share their options,
in recurrent.py). Each declares its options, makes one call into nbengine.explain and one
call to the renderer (nbengine_cli.render)."""
