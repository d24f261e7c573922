"""Where callers sit (VPCs) and the paths they take to Model Studio (endpoints), with the docs' rules."""
