"""ecgbyte.bpe"""
